#!/usr/bin/env python3
"""What the direct-access tests (dax_test.cc) run under pmemfs-run: Python's
own mmap module, as a user's program would use it.

  dax_workload.py pmd FILE SIZE        store into every page; print the kB of
                                       the mapping that are PMD-mapped
  dax_workload.py hole FILE SIZE       read every page; print "zeros" or
                                       "data", and the mapping's Rss in kB
  dax_workload.py race FILE PAGES HOW  read PAGES hole pages through a mapping,
                                       have another process store into them
                                       (HOW: "client", a pmemfs-run process
                                       storing through its own mapping, or
                                       "write", write(2) through the mount),
                                       then read them again: print what was seen
  dax_workload.py tail FILE            map 4 MiB, touch the page at 3 MiB,
                                       have another process truncate the file
                                       to 1 MiB, touch it again (SIGBUS)
  dax_workload.py fork FILE            map, fork; the child stores through the
                                       inherited mapping; the parent reads it
  dax_workload.py private FILE         a MAP_PRIVATE mapping (never direct)
  dax_workload.py split FILE           map 8 MiB, store into every MiB, unmap
                                       the middle 2 MiB (munmap of part of a
                                       direct mapping), store and read the rest
  dax_workload.py stop FILE            read a hole page through a mapping,
                                       print "mapped", then stop (SIGSTOP)
  dax_workload.py lmdb DIR [check]     LMDB: 40 write transactions of 100 keys
                                       (written with pwrite, read through its
                                       read-only mapping), then 10 more through
                                       a writable mapping (writemap); print
                                       "lmdb ok". With check: only read them
  dax_workload.py remount FILE CMD...  map writable (and close the descriptor),
                                       store, run CMD (a remount,ro), unmap,
                                       run CMD again; print how each ended
"""
import mmap
import os
import subprocess
import sys

PAGE = 4096


def smaps_of(addr_hint_len):
    """Rss and PMD-mapped kB of the mapping of addr_hint_len bytes."""
    rss = pmd = 0
    cur = None
    with open("/proc/self/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                cur = hi - lo
                continue
            if cur is None or cur < addr_hint_len:
                continue
            if parts[0] == "Rss:":
                rss += int(parts[1])
            if parts[0] in ("ShmemPmdMapped:", "FilePmdMapped:"):
                pmd += int(parts[1])
    return rss, pmd


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "pmd":
        size = int(sys.argv[3])
        fd = os.open(path, os.O_RDWR)
        m = mmap.mmap(fd, size, mmap.MAP_SHARED)
        for off in range(0, size, PAGE):
            m[off] = 1
        m.flush()
        print("pmd_kb", smaps_of(size)[1])
    elif cmd == "hole":
        size = int(sys.argv[3])
        fd = os.open(path, os.O_RDONLY)
        m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        seen = 0
        for off in range(0, size, PAGE):
            seen |= m[off] | m[off + PAGE - 1]
        print("zeros" if seen == 0 else "data", "rss_kb", smaps_of(size)[0])
    elif cmd == "race":
        pages, how = int(sys.argv[3]), sys.argv[4]
        fd = os.open(path, os.O_RDWR)
        size = os.fstat(fd).st_size
        m = mmap.mmap(fd, size, mmap.MAP_SHARED)
        stride = size // pages // PAGE * PAGE
        offs = [i * stride + 123 for i in range(pages)]
        before = bytes(m[o] for o in offs)
        if how == "client":
            # Another process, with a direct mapping of its own (LD_PRELOAD
            # is inherited); it has returned from its stores when it exits.
            subprocess.run([sys.executable, __file__, "store", path, str(pages)], check=True)
        else:
            for o in offs:
                os.pwrite(fd, b"X", o)
        after = bytes(m[o] for o in offs)
        print("before", before.count(0), "zero of", pages, "after", after.count(ord("X")), "X of", pages)
    elif cmd == "store":
        pages = int(sys.argv[3])
        fd = os.open(path, os.O_RDWR)
        size = os.fstat(fd).st_size
        m = mmap.mmap(fd, size, mmap.MAP_SHARED)
        stride = size // pages // PAGE * PAGE
        for i in range(pages):
            m[i * stride + 123] = ord("X")
    elif cmd == "tail":
        fd = os.open(path, os.O_RDWR)
        m = mmap.mmap(fd, 4 << 20, mmap.MAP_SHARED)
        m[3 << 20] = ord("T")
        print("touched", chr(m[3 << 20]), flush=True)
        subprocess.run(["truncate", "-s", "1M", path], check=True, env={"PATH": os.environ["PATH"]})
        print("truncated", flush=True)
        print("read after truncate", m[3 << 20], flush=True)  # SIGBUS before this prints
    elif cmd == "fork":
        fd = os.open(path, os.O_RDWR)
        m = mmap.mmap(fd, 4 << 20, mmap.MAP_SHARED)
        m[0] = ord("P")
        pid = os.fork()
        if pid == 0:
            m[7 * PAGE] = ord("C")
            m[(2 << 20) + 5] = ord("D")
            os._exit(0 if m[0] == ord("P") else 3)
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status), "sees", chr(m[7 * PAGE]), chr(m[(2 << 20) + 5]))
    elif cmd == "private":
        fd = os.open(path, os.O_RDWR)
        m = mmap.mmap(fd, 4 << 20, mmap.MAP_PRIVATE)
        m[0] = ord("p")
        print("private", chr(m[0]))
    elif cmd == "split":
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        fd = os.open(path, os.O_RDWR)
        m = mmap.mmap(fd, 8 << 20, mmap.MAP_SHARED)
        for mib in range(8):
            m[mib << 20] = ord("a") + mib
        base = ctypes.addressof(ctypes.c_char.from_buffer(m))
        if libc.munmap(base + (3 << 20), 2 << 20) != 0:
            sys.exit("munmap: errno %d" % ctypes.get_errno())
        for mib in (0, 1, 2, 5, 6, 7):  # what stays still maps the file
            ctypes.c_char.from_address(base + (mib << 20) + 1).value = b"Z"
        print("kept", "".join(chr(ctypes.c_char.from_address(base + (mib << 20)).value[0]) for mib in (0, 1, 2, 5, 6, 7)),
              flush=True)
        os._exit(0)  # the mmap object must not unmap what is gone
    elif cmd == "stop":
        import signal
        fd = os.open(path, os.O_RDWR)
        m = mmap.mmap(fd, 4 << 20, mmap.MAP_SHARED)
        print("mapped", m[5 * PAGE], flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)
        print("resumed", flush=True)
    elif cmd == "lmdb":
        import lmdb

        def value(i, gen):
            return (b"%d:%d:" % (i, gen)) * (1 + i % 50)

        check = len(sys.argv) > 3 and sys.argv[3] == "check"
        if not check:
            env = lmdb.open(path, map_size=64 << 20)
            for t in range(40):
                with env.begin(write=True) as txn:
                    for i in range(t * 100, t * 100 + 100):
                        txn.put(b"k%06d" % i, value(i, 0))
                with env.begin() as txn:  # every key so far, through the mapping
                    for i in range(t * 100 + 100):
                        if txn.get(b"k%06d" % i) != value(i, 0):
                            sys.exit("lmdb: key %d wrong after transaction %d" % (i, t))
            env.close()
            env = lmdb.open(path, map_size=64 << 20, writemap=True)
            for t in range(10):
                with env.begin(write=True) as txn:
                    for i in range(t * 400, t * 400 + 400):
                        txn.put(b"k%06d" % i, value(i, 1))
            env.close()
        env = lmdb.open(path, map_size=64 << 20, readonly=True)
        with env.begin() as txn:
            for i in range(4000):
                if txn.get(b"k%06d" % i) != value(i, 1):
                    sys.exit("lmdb: key %d wrong at the end" % i)
        print("lmdb ok", flush=True)
    elif cmd == "remount":
        # ctypes' mmap, not Python's, which keeps a descriptor of its own: the
        # kernel refuses a remount,ro while a file is open for writing, and
        # this mapping must be all that is left.
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_long]
        fd = os.open(path, os.O_RDWR)
        base = libc.mmap(None, 4 << 20, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, fd, 0)
        if base in (None, ctypes.c_void_p(-1).value):
            sys.exit("mmap: errno %d" % ctypes.get_errno())
        os.close(fd)
        byte = ctypes.c_char.from_address(base + 5 * PAGE)
        byte.value = b"A"
        print("stored", flush=True)
        for when in ("mapped", "unmapped"):
            r = subprocess.run(sys.argv[3:], capture_output=True, text=True)
            print("remount", when, r.returncode, r.stdout.strip(), r.stderr.strip(), flush=True)
            if when == "mapped":
                print("reads", byte.value.decode(), flush=True)
                byte.value = b"B"
                libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
                if libc.munmap(base, 4 << 20) != 0:
                    sys.exit("munmap: errno %d" % ctypes.get_errno())
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
