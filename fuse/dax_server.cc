#include "fuse/dax_server.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <nlohmann/json.hpp>

#include "dax/protocol.h"

namespace pmemfs::daemon {

namespace proto = pmemfs::dax;

struct DaxServer::Client {
  uint64_t id = 0;
  pid_t pid = 0;
  int control_fd = -1;
  std::set<uint64_t> inos;  // guarded by DaxServer::mu_: every inode it was handed an entry of
  std::mutex mu;            // guards the two below
  std::condition_variable cv;
  std::set<uint64_t> pending;  // revocations sent, not yet answered
  bool gone = false;           // its control connection closed
};

namespace {

bool send_message(int fd, const proto::Message& m, int flags = 0) {
  return ::send(fd, &m, sizeof m, MSG_NOSIGNAL | flags) == static_cast<ssize_t>(sizeof m);
}

// One message, and the descriptor that came with it (-1 if none).
ssize_t receive(int fd, proto::Message& m, int* passed_fd) {
  char control[CMSG_SPACE(sizeof(int))];
  iovec iov{&m, sizeof m};
  msghdr h{};
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  h.msg_control = control;
  h.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(fd, &h, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (passed_fd) *passed_fd = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int got;
      std::memcpy(&got, CMSG_DATA(c), sizeof got);
      if (passed_fd) *passed_fd = got;
      else ::close(got);
    }
  }
  return n;
}

pid_t peer_pid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : -1;
}

uint32_t wire_kind(EntryKind k) {
  switch (k) {
    case EntryKind::kHole: return proto::kWireHole;
    case EntryKind::kPte: return proto::kWirePte;
    case EntryKind::kPmd: return proto::kWirePmd;
  }
  return proto::kWireHole;
}

}  // namespace

DaxServer::DaxServer(Filesystem& fs, const Config& c) : fs_(fs), cfg_(c) {}

DaxServer::~DaxServer() { stop(); }

std::string DaxServer::start() {
  static std::atomic<unsigned> instance{0};
  const std::string name = "pmemfs-dax-" + std::to_string(getpid()) + "-" + std::to_string(instance++);
  listen_fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return std::string("socket: ") + strerror(errno);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path + 1, name.data(), name.size());  // abstract: sun_path[0] is 0
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), len) < 0 || ::listen(listen_fd_, 64) < 0) {
    const std::string why = std::string("cannot listen on @") + name + ": " + strerror(errno);
    ::close(listen_fd_);
    listen_fd_ = -1;
    return why;
  }
  address_ = "@" + name;
  acceptor_ = std::thread([this] { accept_loop(); });
  return {};
}

void DaxServer::stop() {
  if (stopping_.exchange(true)) return;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (int fd : conn_fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

Json DaxServer::stats_json() const {
  const DaxCounters& n = counters_;
  Json j;
  j["clients"] = n.clients.load();
  j["clients_total"] = n.clients_total.load();
  j["hole_faults"] = n.hole_faults.load();
  j["pte_faults"] = n.pte_faults.load();
  j["pmd_faults"] = n.pmd_faults.load();
  j["fault_errors"] = n.fault_errors.load();
  j["revocations"] = n.revocations.load();
  j["revoke_messages"] = n.revoke_messages.load();
  j["clients_killed"] = n.clients_killed.load();
  j["bytes_flushed"] = n.bytes_flushed.load();
  return j;
}

std::string DaxServer::xattr_value() const { return address_ + "\n" + cfg_.pool_path + "\n"; }

void DaxServer::accept_loop() {
  while (!stopping_) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (!stopping_) spdlog::error("dax: accept: {}", strerror(errno));
      return;
    }
    std::lock_guard<std::mutex> g(mu_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    conn_fds_.push_back(fd);
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

bool DaxServer::descriptor_is_the_pool(int fd) const {
  struct stat st{};
  if (fstat(fd, &st) != 0) return false;
  const bool same = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)
                        ? st.st_rdev == cfg_.pool_dev
                        : st.st_dev == cfg_.pool_dev && st.st_ino == cfg_.pool_ino;
  const int flags = fcntl(fd, F_GETFL);
  return same && flags >= 0 && (flags & O_ACCMODE) == O_RDWR;
}

void DaxServer::serve(int fd) {
  proto::Message m;
  int pool_fd = -1;
  const ssize_t n = receive(fd, m, &pool_fd);
  if (n == static_cast<ssize_t>(sizeof m) && m.kind == proto::kHello) {
    proto::Message w;
    w.kind = proto::kWelcome;
    const bool ok = m.version == proto::kProtocolVersion && pool_fd >= 0 && descriptor_is_the_pool(pool_fd);
    if (pool_fd >= 0) ::close(pool_fd);
    if (!ok) {
      w.status = m.version != proto::kProtocolVersion ? EPROTO : EACCES;
      send_message(fd, w);
    } else {
      auto c = std::make_shared<Client>();
      c->pid = peer_pid(fd);
      c->control_fd = fd;
      {
        std::lock_guard<std::mutex> g(mu_);
        c->id = next_client_++;
        clients_.push_back(c);
      }
      counters_.clients.fetch_add(1);
      counters_.clients_total.fetch_add(1);
      w.id = c->id;
      w.pool_off = cfg_.pool_size;
      spdlog::debug("dax: client {} (pid {}) connected", c->id, c->pid);
      if (send_message(fd, w)) serve_control(c);
      {
        std::lock_guard<std::mutex> g(c->mu);
        c->gone = true;
      }
      c->cv.notify_all();
      {
        std::lock_guard<std::mutex> g(mu_);
        std::erase(clients_, c);
      }
      counters_.clients.fetch_sub(1);
      spdlog::debug("dax: client {} (pid {}) gone", c->id, c->pid);
    }
  } else if (n == static_cast<ssize_t>(sizeof m) && m.kind == proto::kAttach) {
    if (pool_fd >= 0) ::close(pool_fd);
    auto c = find_client(m.id);
    // Only the process that proved it may open the pool uses its id.
    if (c && c->pid == peer_pid(fd)) serve_faults(fd, c);
  } else if (pool_fd >= 0) {
    ::close(pool_fd);
  }
  std::lock_guard<std::mutex> g(mu_);
  std::erase(conn_fds_, fd);
  ::close(fd);
}

bool DaxServer::mapped(uint64_t ino) {
  std::lock_guard<std::mutex> g(mu_);
  return mapped_inos_.count(ino) != 0;
}

std::shared_ptr<DaxServer::Client> DaxServer::find_client(uint64_t id) {
  std::lock_guard<std::mutex> g(mu_);
  for (auto& c : clients_)
    if (c->id == id) return c;
  return nullptr;
}

void DaxServer::serve_control(const std::shared_ptr<Client>& c) {
  proto::Message m;
  while (receive(c->control_fd, m, nullptr) == static_cast<ssize_t>(sizeof m)) {
    if (m.kind == proto::kRevoked) {
      {
        std::lock_guard<std::mutex> g(c->mu);
        c->pending.erase(m.id);
      }
      c->cv.notify_all();
    } else if (m.kind == proto::kFlushed) {
      counters_.bytes_flushed.fetch_add(m.pid, std::memory_order_relaxed);
    }
  }
}

// The next request of a fault connection: polled for kPollUs first, since a
// thread that sleeps pays a wake-up per fault (tens of microseconds on a
// virtual CPU that halts when idle, as io_uring_poll_us explains in pmemfs.8),
// and a program touching fresh pages faults back to back.
constexpr auto kFaultPoll = std::chrono::microseconds(50);

static ssize_t receive_polled(int fd, proto::Message& m) {
  const auto until = std::chrono::steady_clock::now() + kFaultPoll;
  do {
    const ssize_t n = ::recv(fd, &m, sizeof m, MSG_DONTWAIT);
    if (n >= 0 || (errno != EAGAIN && errno != EINTR)) return n;
  } while (std::chrono::steady_clock::now() < until);
  return receive(fd, m, nullptr);
}

void DaxServer::serve_faults(int fd, const std::shared_ptr<Client>& c) {
  proto::Message m;
  while (receive_polled(fd, m) == static_cast<ssize_t>(sizeof m)) {
    if (m.kind != proto::kFault) break;
    bool first = false;
    {
      // Before the fault: any change from the moment the fault takes the
      // inode lock on must revoke from this client (pmemfs/dax.h).
      std::lock_guard<std::mutex> g(mu_);
      c->inos.insert(m.ino);
      first = mapped_inos_.insert(m.ino).second;
    }
    if (first && on_first_map_) on_first_map_(m.ino);
    proto::Message r;
    r.kind = proto::kEntry;
    auto e = fs_.dax_fault(m.ino, m.page, m.write != 0);
    if (!e.ok()) {
      r.status = static_cast<uint32_t>(e.error());
      counters_.fault_errors.fetch_add(1, std::memory_order_relaxed);
    } else {
      r.write = wire_kind(e->kind);
      r.page = e->first_page;
      r.last = e->npages;
      r.pool_off = e->pool_off;
      auto& n = e->kind == EntryKind::kHole  ? counters_.hole_faults
                : e->kind == EntryKind::kPte ? counters_.pte_faults
                                             : counters_.pmd_faults;
      n.fetch_add(1, std::memory_order_relaxed);
    }
    if (!send_message(fd, r)) break;
  }
}

void DaxServer::revoke(uint64_t ino, uint64_t first_page, uint64_t last_page) {
  if (cfg_.skip_revoke) return;
  std::vector<std::pair<std::shared_ptr<Client>, uint64_t>> sent;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& c : clients_) {
      if (!c->inos.count(ino)) continue;
      proto::Message m;
      m.kind = proto::kRevoke;
      m.id = next_revocation_++;
      m.ino = ino;
      m.page = first_page;
      m.last = last_page;
      {
        std::lock_guard<std::mutex> cg(c->mu);
        if (c->gone) continue;
        c->pending.insert(m.id);
      }
      // A failed send: the client is on its way out; wait_gone sees it go.
      send_message(c->control_fd, m, MSG_DONTWAIT);  // never blocks under mu_
      counters_.revoke_messages.fetch_add(1, std::memory_order_relaxed);
      sent.emplace_back(c, m.id);
    }
  }
  for (auto& [c, rid] : sent) wait_gone(c, rid);
  if (!sent.empty()) counters_.revocations.fetch_add(1, std::memory_order_relaxed);
}

// Until the client answered revocation rid or its mappings are gone.
void DaxServer::wait_gone(const std::shared_ptr<Client>& c, uint64_t rid) {
  std::unique_lock<std::mutex> lk(c->mu);
  const auto answered = [&] { return c->gone || !c->pending.count(rid); };
  if (c->cv.wait_for(lk, std::chrono::milliseconds(cfg_.revoke_timeout_ms), answered)) return;
  // Stopped, stuck or hostile: it may still reach the pages, and the change
  // cannot wait for ever (dax/protocol.h).
  spdlog::warn("dax: client pid {} did not give up its mapping within {} ms; killing it", c->pid,
               cfg_.revoke_timeout_ms);
  counters_.clients_killed.fetch_add(1, std::memory_order_relaxed);
  if (c->pid > 0) ::kill(c->pid, SIGKILL);
  // Its control connection closes once the process (and its mappings) died.
  if (!c->cv.wait_for(lk, std::chrono::seconds(10), [&] { return c->gone; }))
    spdlog::error("dax: killed client pid {} still holds its connection", c->pid);
}

}  // namespace pmemfs::daemon
