// Result<T>: a value or a positive errno. The one error type of the library;
// the FUSE daemon replies with error() unchanged.
#pragma once

#include <cerrno>
#include <utility>
#include <variant>

namespace pmemfs {

struct Errno {
  int value;  // positive errno, e.g. ENOENT
};

inline Errno err(int e) { return Errno{e}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Errno e) : v_(e) {}                 // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  int error() const { return ok() ? 0 : std::get<1>(v_).value; }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Errno> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Errno e) : e_(e.value) {}  // NOLINT
  bool ok() const { return e_ == 0; }
  explicit operator bool() const { return ok(); }
  int error() const { return e_; }

 private:
  int e_ = 0;
};

using Status = Result<void>;

}  // namespace pmemfs

// Propagates an error from an expression yielding a Result. The only macro.
#define PMEMFS_TRY(expr)                                   \
  do {                                                     \
    auto&& pmemfs_try_r_ = (expr);                         \
    if (!pmemfs_try_r_.ok())                               \
      return ::pmemfs::Errno{pmemfs_try_r_.error()};       \
  } while (0)
