#include "pmemfs/fault.h"

#include <algorithm>

#include "pmemfs/alloc.h"
#include "pmemfs/dax.h"
#include "pmemfs/dir.h"
#include "pmemfs/inode.h"
#include "pmemfs/journal.h"
#include "pmemfs/pool.h"

namespace pmemfs {

using layout::kBlocksPerHuge;
using layout::kBlockSize;

char* entry_address(Pool& pool, const Entry& e, uint64_t page) {
  if (e.kind == EntryKind::kHole) return const_cast<char*>(zero_page());
  return pool.base() + (e.pool_block + (page - e.first_page)) * kBlockSize;
}

namespace {

// An entry for a mapped extent: a PMD when the extent covers the page's whole
// aligned 2 MiB range and is aligned in the pool too, else a PTE.
Entry* insert_mapped(FaultContext& fc, Inode& inode, uint64_t page, const Mapped& m) {
  const uint64_t r0 = page - page % kBlocksPerHuge;
  const uint64_t pb_at_r0 = m.pool_block + (r0 - m.file_block);
  if (m.file_block <= r0 && r0 + kBlocksPerHuge <= m.file_block + m.nblocks &&
      pb_at_r0 % kBlocksPerHuge == 0) {
    fc.counters.pmd_faults.fetch_add(1, std::memory_order_relaxed);
    return inode.extra().mapping.insert(EntryKind::kPmd, r0, pb_at_r0);
  }
  fc.counters.pte_faults.fetch_add(1, std::memory_order_relaxed);
  return inode.extra().mapping.insert(EntryKind::kPte, page, m.pool_block + (page - m.file_block));
}

}  // namespace

Entry* read_fault(FaultContext& fc, Inode& inode, uint64_t page) {
  if (Entry* e = inode.extra().mapping.find(page)) return e;
  if (auto m = inode.extents.find(page)) return insert_mapped(fc, inode, page, *m);
  if (fc.hooks.hole_window) fc.hooks.hole_window();
  fc.counters.hole_faults.fetch_add(1, std::memory_order_relaxed);
  return inode.extra().mapping.insert(EntryKind::kHole, page, 0);
}

Entry* write_fault_mapped(FaultContext& fc, Inode& inode, uint64_t page) {
  if (Entry* e = inode.extra().mapping.find(page); e && e->kind != EntryKind::kHole) return e;
  if (auto m = inode.extents.find(page)) return insert_mapped(fc, inode, page, *m);
  return nullptr;
}

Result<Entry*> write_fault_locked(FaultContext& fc, Inode& inode, uint64_t page,
                                  const WriteIntent& intent) {
  // We may have dropped the lock: check again whether somebody else mapped it.
  if (Entry* e = write_fault_mapped(fc, inode, page)) {
    fc.counters.retries.fetch_add(1, std::memory_order_relaxed);
    return e;
  }
  const uint64_t r0 = page - page % kBlocksPerHuge, r_end = r0 + kBlocksPerHuge;
  const auto next = inode.extents.next(r0);
  const bool range_is_hole = !next || next->file_block >= r_end;
  // Being filled (WriteIntent): covered whole, or entered at its first page
  // by a sequential writer coming from the range below. A write that merely
  // lands in a hole of a sparse file never pins 2 MiB.
  const bool covered = intent.first <= r0 && intent.end >= r_end;
  const bool streaming = intent.sequential && r0 > 0 && page == r0;

  Txn txn = fc.journal.begin();
  Run run{};
  uint64_t fb = page;
  bool huge = false;
  if (range_is_hole && (covered || streaming)) {
    auto r = fc.alloc.alloc_huge(txn);
    if (r.ok()) {
      run = *r;
      fb = r0;
      huge = true;
    }
  }
  if (!huge) {
    uint64_t limit = r_end;
    if (auto n = inode.extents.next(page); n && n->file_block < limit) limit = n->file_block;
    const uint64_t want = std::clamp<uint64_t>(intent.end > page ? intent.end - page : 1, 1, limit - page);
    uint64_t goal = 0;
    if (page > 0)
      if (auto prev = inode.extents.find(page - 1)) goal = prev->pool_block + (page - 1 - prev->file_block) + 1;
    auto r = fc.alloc.alloc(txn, static_cast<uint32_t>(want), goal, page);
    if (!r.ok()) return err(r.error());
    run = *r;
  }
  // Data before metadata: the blocks are zero and durable before the extent
  // that exposes them commits, so no stale byte can ever be read.
  fc.pool.memset_persist(fc.pool.at<char>(run.pool_block * kBlockSize), 0,
                         uint64_t{run.nblocks} * kBlockSize);
  PMEMFS_TRY(inode.extents.insert(txn, inode.extent_owner(fc.pool, fc.alloc), fb, run.pool_block, run.nblocks));
  // The extent commits before the write that needs it grows the size on
  // media (write() commits that next), so a crash in between leaves these
  // blocks past EOF: say so in the same transaction, or fsck would rightly
  // call them corruption. write() clears the mark once the size covers them.
  const uint64_t disk_blocks = (inode.rec.size + kBlockSize - 1) / kBlockSize;
  if (fb + run.nblocks > disk_blocks) inode.rec.flags |= layout::kInodeBeyondEof;
  fc.inodes.write(txn, inode);
  PMEMFS_TRY(txn.commit());
  // The speculative part of a streaming writer's extent, if any, is past EOF
  // once the write lands: remembered so that the last close gives it back.
  if (huge && !covered) inode.extra().stream_tail.store(r0, std::memory_order_relaxed);

  // A client may map the HOLE pages the new blocks cover (dax.h): its zero
  // page must be gone before anybody can store into the blocks. A client's
  // zero pages of a 2 MiB range exist only while the HOLE entry they were
  // handed out for does (revoking evicts the whole range), so a range without
  // one needs no revocation: a fresh page's write fault costs none.
  const uint64_t rb = fb - fb % kBlocksPerHuge;
  const uint64_t re = (fb + run.nblocks - 1) | (kBlocksPerHuge - 1);
  if (inode.extra().dax_mapped.load(std::memory_order_acquire) && inode.extra().mapping.has_hole(rb, re))
    dax_revoke_range(fc.revoker, inode.ino, fb, fb + run.nblocks - 1);
  const uint64_t evicted =
      inode.extra().mapping.evict_holes(fb, fb + run.nblocks - 1, fc.hooks.disable_upgrade);
  fc.counters.hole_evictions.fetch_add(evicted, std::memory_order_relaxed);
  if (huge) {
    fc.counters.pmd_faults.fetch_add(1, std::memory_order_relaxed);
    return inode.extra().mapping.insert(EntryKind::kPmd, r0, run.pool_block);
  }
  fc.counters.pte_faults.fetch_add(1, std::memory_order_relaxed);
  return inode.extra().mapping.insert(EntryKind::kPte, page, run.pool_block);
}

}  // namespace pmemfs
