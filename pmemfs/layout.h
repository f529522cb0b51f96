// The on-media format of pmemfs, in one place. Every persistent structure is
// defined here with a comment per field; pmemfs.8 documents the same format.
//
// Pool layout (offsets in bytes; block = 4 KiB; all regions block aligned):
//   block 0          Superblock (primary)
//   block 1          Superblock (copy, identical; used when the primary is bad)
//   block 2          StateRecord (mutable: clean flag, mount count)
//   orphan_off       orphan_slots x u64: inos to finish at mount (unlinked
//                    while open, or a truncate spanning several transactions);
//                    from format version 2 the last u64 links the table to a
//                    chain of OrphanBlocks in the data area, so the number of
//                    orphans has no fixed limit
//   journal_off      journal_lanes x lane_size bytes of redo-log lanes
//   inode_bitmap_off one bit per inode, 1 = in use
//   inode_table_off  inode_count x InodeRecord
//   block_bitmap_off one bit per data block, 1 = in use
//   data_off         data blocks; data_off is 2 MiB aligned in the pool so a
//                    2 MiB extent aligned in the data area is aligned in the device.
//
// Block numbers stored on media are absolute pool block numbers (offset/4096).
// All integers are little endian (the pool is only ever mapped by x86-64/arm64).
#pragma once

#include <cstddef>
#include <cstdint>

namespace pmemfs::layout {

// Format versions:
//   1  the orphan table is orphan_slots inos and nothing more: a full table
//      cannot list more orphans (they leak on a crash until fsck frees them).
//   2  the orphan table's last u64 is the link to a chain of OrphanBlocks
//      (orphan_link_off). Nothing else differs: a version 1 pool is upgraded
//      to 2 at mount, once its orphans are finished (the last slot is then 0,
//      which means "no chain" in version 2).
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr uint32_t kFormatVersionOrphanChain = 2;  // first version with OrphanBlocks
inline constexpr char kMagic[8] = {'P', 'M', 'E', 'M', 'F', 'S', '0', '1'};

inline constexpr uint64_t kBlockSize = 4096;
inline constexpr uint64_t kBlockShift = 12;
inline constexpr uint64_t kHugeSize = 2u << 20;              // 2 MiB
inline constexpr uint64_t kBlocksPerHuge = kHugeSize / kBlockSize;  // 512
inline constexpr uint64_t kMinPoolSize = 32u << 20;          // 32 MiB
inline constexpr uint32_t kDefaultLanes = 16;
inline constexpr uint64_t kDefaultLaneSize = 256u << 10;     // 256 KiB
inline constexpr uint64_t kDefaultBytesPerInode = 16384;
inline constexpr uint64_t kRootIno = 1;  // FUSE_ROOT_ID; inode index = ino - 1
inline constexpr uint32_t kMaxNameLen = 255;
inline constexpr uint32_t kMaxSymlinkLen = 4095;
inline constexpr uint32_t kMaxXattrValue = 65536;
// Largest file size: sparse files may be far larger than the pool; 2^52
// bytes keeps every block number and byte offset well inside 64 bits.
inline constexpr uint64_t kMaxFileSize = uint64_t{1} << 52;

// Superblock: written once by mkfs (and by fsck when it restores it). The
// mutable state lives in StateRecord so this never changes while mounted.
struct Superblock {
  char magic[8];              // kMagic
  uint32_t version;           // kFormatVersion; newer versions are refused
  uint32_t block_size;        // kBlockSize
  uint64_t pool_size;         // bytes of the pool this was formatted for
  uint8_t uuid[16];           // random, set by mkfs
  char label[64];             // NUL padded, -L of mkfs
  uint64_t state_off;         // offset of the StateRecord
  uint64_t journal_off;       // first lane
  uint32_t journal_lanes;     // number of lanes
  uint32_t reserved0;
  uint64_t lane_size;         // bytes per lane
  uint64_t inode_bitmap_off;  // inode bitmap
  uint64_t inode_count;       // inodes in the table
  uint64_t inode_table_off;   // InodeRecord[inode_count]
  uint64_t block_bitmap_off;  // data block bitmap, one bit per data block
  uint64_t data_off;          // first data block, 2 MiB aligned
  uint64_t data_blocks;       // number of data blocks
  int64_t mkfs_time_ns;       // when formatted
  uint64_t orphan_off;        // orphan table: orphan_slots u64 inos, 0 = free slot
                              // (version >= 2: the last one is the chain link)
  uint64_t orphan_slots;      // u64 entries in the orphan table, link included
  uint8_t reserved[296];      // zero
  uint32_t checksum;          // crc32c of the bytes before this field
  uint32_t reserved1;
};
static_assert(sizeof(Superblock) == 512);

// Version >= 2: the pool offset of the orphan chain's link (the table's last
// u64), and the number of ino slots in the table itself.
inline constexpr bool has_orphan_chain(const Superblock& sb) {
  return sb.version >= kFormatVersionOrphanChain;
}
inline constexpr uint64_t orphan_link_off(const Superblock& sb) {
  return sb.orphan_off + (sb.orphan_slots - 1) * sizeof(uint64_t);
}
inline constexpr uint64_t orphan_table_inos(const Superblock& sb) {
  return has_orphan_chain(sb) ? sb.orphan_slots - 1 : sb.orphan_slots;
}

// Mutable filesystem state, updated through the journal.
struct StateRecord {
  uint64_t clean;         // 1 after a clean unmount, 0 while mounted
  uint64_t reserved0;     // zero
  uint64_t mount_count;   // incremented at every mount
  int64_t last_mount_ns;  // time of the last mount
  uint64_t reserved1;     // zero
  uint8_t reserved[20];
  uint32_t checksum;      // crc32c of the bytes before this field
};
static_assert(sizeof(StateRecord) == 64);

// A run of file blocks mapped to pool blocks. nblocks == 0 marks a free slot
// (the whole record is then zero). 2 MiB extents are simply extents whose file
// and pool block numbers are 512-aligned and that span 512 blocks.
struct Extent {
  uint64_t file_block;  // first block in the file
  uint64_t pool_block;  // first absolute pool block
  uint32_t nblocks;     // length in blocks; 0 = empty slot
  uint32_t checksum;    // crc32c of the 20 bytes before, 0 for an empty slot
};
static_assert(sizeof(Extent) == 24);

inline constexpr uint32_t kInlineExtents = 5;

// Inode flags.
inline constexpr uint32_t kInodeOrphan = 1;     // listed in the orphan table (or its chain)
inline constexpr uint32_t kInodeBeyondEof = 2;  // may own (zeroed) blocks past size:
                                                // fallocate KEEP_SIZE or 2 MiB preallocation

// One inode. Records whose inode-bitmap bit is clear are free and ignored
// (mkfs does not zero the table). generation = mount_count << 32 | counter.
struct InodeRecord {
  uint32_t mode;        // S_IFMT type | permission bits
  uint32_t uid;         // owner
  uint32_t gid;         // group
  uint32_t nlink;       // hard links (directories: 2 + subdirectories)
  uint64_t size;        // bytes (directories: bytes of their slot blocks)
  uint64_t generation;  // changes when the slot is reused (NFS handles)
  uint64_t rdev;        // device number of char/block nodes
  int64_t atime_ns;     // access time, ns since the epoch
  int64_t mtime_ns;     // modification time
  int64_t ctime_ns;     // change time
  int64_t btime_ns;     // birth time
  uint64_t parent;      // directories: ino of the parent ("..")
  uint64_t xattr_head;  // first XattrBlock's pool block, 0 none
  uint64_t extent_next; // first spilled ExtentBlock's pool block, 0 none
  uint64_t reserved1;   // zero
  uint32_t flags;       // kInode* flags
  uint32_t reserved0;
  Extent extents[kInlineExtents];  // first extents; more spill to ExtentBlocks
  uint8_t reserved[20];
  uint32_t checksum;    // crc32c of the bytes before this field
};
static_assert(sizeof(InodeRecord) == 256);

inline constexpr uint32_t kExtentBlockMagic = 0x45585442;  // "EXTB"
inline constexpr uint32_t kExtentsPerBlock = 169;

// Spill block for extents beyond the inline ones; chained per inode.
struct ExtentBlock {
  uint32_t magic;       // kExtentBlockMagic
  uint32_t reserved0;
  uint64_t owner;       // ino that owns this block
  uint64_t next;        // next ExtentBlock's pool block, 0 end
  uint32_t reserved1;
  uint32_t checksum;    // crc32c of the 28 bytes before this field
  Extent extents[kExtentsPerBlock];  // each with its own checksum
  uint8_t reserved[8];
};
static_assert(sizeof(ExtentBlock) == kBlockSize);

inline constexpr uint32_t kOrphanBlockMagic = 0x4f525048;  // "ORPH"
inline constexpr uint32_t kOrphansPerBlock = 510;

// Format version >= 2: more orphan slots, in a chain of blocks from the data
// area starting at the orphan table's last u64 (0 = no chain). A block is
// zeroed and persisted before the Txn that links it commits; slots change
// one u64 at a time through the journal, as the table's do; headers change
// (next) only when the chain grows or shrinks. The chain ends at next == 0.
struct OrphanBlock {
  uint32_t magic;     // kOrphanBlockMagic
  uint32_t checksum;  // crc32c of the 16 header bytes with this field zero
  uint64_t next;      // next OrphanBlock's pool block, 0 end
  uint64_t inos[kOrphansPerBlock];  // 0 = free slot
};
static_assert(sizeof(OrphanBlock) == kBlockSize);
static_assert(offsetof(OrphanBlock, inos) == 16);

// Directory contents are fixed-size slots in the directory's data blocks,
// 15 per block. ino == 0 marks a free slot. "." and ".." are not stored.
struct DirentSlot {
  uint64_t ino;       // target inode, 0 = free
  uint32_t checksum;  // crc32c of the slot with this field zero
  uint8_t type;       // DT_* of the target
  uint8_t name_len;   // 1..255
  uint8_t reserved[2];
  char name[256];     // not NUL terminated; bytes past name_len are zero
};
static_assert(sizeof(DirentSlot) == 272);
inline constexpr uint32_t kSlotsPerBlock = kBlockSize / sizeof(DirentSlot);  // 15

inline constexpr uint32_t kXattrMagic = 0x58415452;  // "XATR"

// One extended attribute, in a contiguous run of blocks: this header, the name,
// then the value. Chained per inode from InodeRecord::xattr_head.
struct XattrHeader {
  uint32_t magic;       // kXattrMagic
  uint32_t nblocks;     // length of this run in blocks
  uint64_t next;        // next XattrHeader's pool block, 0 end
  uint32_t name_len;    // full name with namespace prefix, 1..255
  uint32_t value_len;   // 0..kMaxXattrValue
  uint32_t data_checksum;  // crc32c of name then value
  uint32_t checksum;    // crc32c of the 28 bytes before this field
};
static_assert(sizeof(XattrHeader) == 32);

// Journal lane: LaneHeader, then records packed from offset 64.
// Commit protocol (redo): records are written and flushed, drained, then the
// header is written with state = kLaneCommitted and persisted. Apply writes
// every record to its target and persists, then state = kLaneFree is persisted.
// Mount replays committed lanes in seq order.
inline constexpr uint32_t kLaneFree = 0;
inline constexpr uint32_t kLaneCommitted = 0x434d4954;  // "CMIT"

struct LaneHeader {
  uint64_t seq;         // global commit order
  uint32_t state;       // kLaneFree or kLaneCommitted
  uint32_t nrecords;    // records following
  uint64_t bytes;       // bytes of records following the header
  uint32_t records_checksum;  // crc32c of those bytes
  uint32_t checksum;    // crc32c of the 28 bytes before this field
  uint8_t reserved[32];
};
static_assert(sizeof(LaneHeader) == 64);

// Journal record kinds.
inline constexpr uint32_t kRecWrite = 1;      // copy len bytes of payload to target
inline constexpr uint32_t kRecSetBits = 2;    // target u64 |= mask (payload: u64 mask)
inline constexpr uint32_t kRecClearBits = 3;  // target u64 &= ~mask

struct JournalRecord {
  uint32_t kind;    // kRec*
  uint32_t len;     // payload bytes (8 for bit records); payload padded to 8
  uint64_t target;  // pool offset written
};
static_assert(sizeof(JournalRecord) == 16);

inline constexpr uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace pmemfs::layout
