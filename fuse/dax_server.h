// The daemon's end of direct access (dax/protocol.h; the library's half and
// the lock order are in pmemfs/dax.h): listens on the mount's Unix socket,
// answers the faults of client processes through Filesystem::dax_fault, and
// is the Filesystem's DaxRevoker.
//
// Threads: one accepts connections, one serves each connection (a client's
// control connection reads its kRevoked answers; a fault connection reads
// kFault requests and answers them in turn).
// Locks, in order: the inode lock (held by whoever calls revoke) -> mu_ ->
// Client::mu. dax_fault (the inode lock) is never called with either held.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pmemfs/filesystem.h"
#include "pmemfs/json_text.h"

namespace pmemfs::daemon {

struct DaxCounters {
  std::atomic<uint64_t> hole_faults{0}, pte_faults{0}, pmd_faults{0}, fault_errors{0};
  std::atomic<uint64_t> revocations{0}, revoke_messages{0}, clients_killed{0};
  std::atomic<uint64_t> clients{0}, clients_total{0}, bytes_flushed{0};
};

class DaxServer final : public DaxRevoker {
 public:
  struct Config {
    std::string pool_path;  // absolute: clients open it themselves
    dev_t pool_dev = 0;     // the pool's identity, to check a client's descriptor
    ino_t pool_ino = 0;
    uint64_t pool_size = 0;
    int revoke_timeout_ms = 2000;  // then the client is killed (dax/protocol.h)
    // Test seam (PMEMFS_TEST_DAX_SKIP_REVOKE=1): revocations are not sent,
    // so that the cross-process race test proves it detects the race.
    bool skip_revoke = false;
  };
  // Called once per inode, at its first direct fault: the kernel's cached
  // pages of it must go (fuse/session.cc), so that read(2) through the mount
  // sees what clients store.
  void set_on_first_map(std::function<void(uint64_t ino)> f) { on_first_map_ = std::move(f); }

  DaxServer(Filesystem& fs, const Config& c);
  ~DaxServer() override;  // stop()
  DaxServer(const DaxServer&) = delete;
  DaxServer& operator=(const DaxServer&) = delete;

  // Binds the socket and starts accepting. "" or why not.
  std::string start();
  void stop();

  // The value of dax/protocol.h's kDaxXattr.
  std::string xattr_value() const;
  // The counters as `pmemfs-ctl stats` shows them under "dax" (pmemfs.8).
  Json stats_json() const;
  // Whether a client was ever handed an entry of ino: its opens then bypass
  // the kernel's page cache (ops_files.cc).
  bool mapped(uint64_t ino);

  // DaxRevoker. REQUIRES: ino's inode lock exclusive (pmemfs/dax.h).
  void revoke(uint64_t ino, uint64_t first_page, uint64_t last_page) override;

 private:
  struct Client;
  void accept_loop();
  void serve(int fd);
  void serve_control(const std::shared_ptr<Client>& c);
  void serve_faults(int fd, const std::shared_ptr<Client>& c);
  std::shared_ptr<Client> find_client(uint64_t id);
  bool descriptor_is_the_pool(int fd) const;
  void wait_gone(const std::shared_ptr<Client>& c, uint64_t rid);

  Filesystem& fs_;
  const Config cfg_;
  DaxCounters counters_;
  std::string address_;  // abstract: "@name"
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;

  std::mutex mu_;  // guards the members below
  std::vector<std::shared_ptr<Client>> clients_;
  std::vector<std::thread> threads_;
  std::vector<int> conn_fds_;  // every open connection, shut down by stop()
  uint64_t next_client_ = 1;
  std::atomic<uint64_t> next_revocation_{1};
  std::function<void(uint64_t)> on_first_map_;
  std::set<uint64_t> mapped_inos_;  // guarded by mu_: inodes any client was handed
};

}  // namespace pmemfs::daemon
