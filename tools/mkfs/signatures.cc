#include "signatures.h"

#include <blkid/blkid.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pmemfs/layout.h"

namespace pmemfs::tools {
namespace {

// Closes what it owns.
struct Probe {
  int fd = -1;
  blkid_probe pr = nullptr;
  ~Probe() {
    if (pr) blkid_free_probe(pr);
    if (fd >= 0) ::close(fd);
  }
};

std::string with_article(const std::string& what) {
  const bool vowel = !what.empty() && std::strchr("aeiouAEIOU", what[0]) != nullptr;
  return (vowel ? "an " : "a ") + what;
}

std::string value(blkid_probe pr, const char* name) {
  const char* v = nullptr;
  size_t len = 0;
  if (blkid_probe_lookup_value(pr, name, &v, &len) != 0 || v == nullptr) return {};
  return std::string(v, strnlen(v, len));
}

// pmemfs is not in libblkid: the superblock (or its copy) says so.
std::string pmemfs_signature(int fd) {
  for (uint64_t off : {uint64_t{0}, layout::kBlockSize}) {
    layout::Superblock sb{};
    if (pread(fd, &sb, sizeof(sb), static_cast<off_t>(off)) != static_cast<ssize_t>(sizeof(sb)))
      continue;
    if (std::memcmp(sb.magic, layout::kMagic, sizeof(layout::kMagic)) != 0) continue;
    std::string label(sb.label, strnlen(sb.label, sizeof(sb.label)));
    return "a pmemfs filesystem" + (label.empty() ? "" : " (label " + label + ")");
  }
  return {};
}

}  // namespace

std::string existing_signature(const std::string& source, std::string* error) {
  Probe p;
  p.fd = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
  if (p.fd < 0) {
    if (errno != ENOENT) *error = source + ": " + std::strerror(errno);
    return {};
  }
  if (std::string s = pmemfs_signature(p.fd); !s.empty()) return s;
  p.pr = blkid_new_probe();
  // A source libblkid cannot probe (a device DAX, /dev/null) holds nothing
  // it knows; whether it can be a pool is the library's to say.
  if (p.pr == nullptr || blkid_probe_set_device(p.pr, p.fd, 0, 0) != 0) return {};
  blkid_probe_enable_superblocks(p.pr, 1);
  blkid_probe_set_superblocks_flags(p.pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_LABEL | BLKID_SUBLKS_USAGE);
  blkid_probe_enable_partitions(p.pr, 1);
  if (blkid_do_fullprobe(p.pr) != 0) return {};
  if (std::string pt = value(p.pr, "PTTYPE"); !pt.empty()) return with_article(pt + " partition table");
  const std::string type = value(p.pr, "TYPE");
  if (type.empty()) return {};
  const std::string usage = value(p.pr, "USAGE");
  std::string what = type;
  if (usage == "filesystem") what += " filesystem";
  else if (type == "swap") what += " area";
  else if (usage == "raid") what += " RAID member";
  else if (!usage.empty()) what += " (" + usage + ")";
  const std::string label = value(p.pr, "LABEL");
  return with_article(what) + (label.empty() ? "" : " (label " + label + ")");
}

std::string wipe_signatures(const std::string& source) {
  Probe p;
  p.fd = ::open(source.c_str(), O_RDWR | O_CLOEXEC);
  if (p.fd < 0) return errno == ENOENT ? "" : source + ": " + std::strerror(errno);
  p.pr = blkid_new_probe();
  if (p.pr == nullptr || blkid_probe_set_device(p.pr, p.fd, 0, 0) != 0) return {};
  blkid_probe_enable_superblocks(p.pr, 1);
  blkid_probe_set_superblocks_flags(p.pr, BLKID_SUBLKS_MAGIC | BLKID_SUBLKS_BADCSUM);
  blkid_probe_enable_partitions(p.pr, 1);
  blkid_probe_set_partitions_flags(p.pr, BLKID_PARTS_MAGIC | BLKID_PARTS_FORCE_GPT);
  // As wipefs(8) does: each probe finds the next signature, each wipe
  // erases its magic bytes.
  for (int i = 0; i < 64 && blkid_do_probe(p.pr) == 0; ++i) {
    if (blkid_do_wipe(p.pr, 0) != 0)
      return source + ": cannot erase the old signature: " + std::strerror(errno);
  }
  if (fsync(p.fd) != 0 && errno != EINVAL && errno != EROFS)
    return source + ": cannot write back the erased signatures: " + std::strerror(errno);
  return {};
}

}  // namespace pmemfs::tools
