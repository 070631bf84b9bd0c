// Counts lmtpd's fsync() and fdatasync() calls into its worker counters (cubby_store_fsyncs_total),
// the store's and SQLite's alike, without touching either.
//
// These definitions in the executable take the place of the C library's for every caller in the
// process, shared libraries included (ELF symbol interposition: the executable comes first in the
// lookup order). Each one counts and then calls the next definition in the lookup order
// (dlsym(RTLD_NEXT)): the C library's, or that of an LD_PRELOAD library such as the test suite's
// disk-fault interposer (tests/fault/), which must see every sync. Linked into lmtpd only.
#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server/process/worker_counters.h"

namespace {
using SyncFn = int (*)(int);
SyncFn next_sync(const char* name) { return reinterpret_cast<SyncFn>(dlsym(RTLD_NEXT, name)); }
}  // namespace

extern "C" int fsync(int fd) {
  cubby::server::worker_counters().fsyncs.fetch_add(1, std::memory_order_relaxed);
  static SyncFn next = next_sync("fsync");
  return next ? next(fd) : static_cast<int>(syscall(SYS_fsync, fd));
}

extern "C" int fdatasync(int fd) {
  cubby::server::worker_counters().fsyncs.fetch_add(1, std::memory_order_relaxed);
  static SyncFn next = next_sync("fdatasync");
  return next ? next(fd) : static_cast<int>(syscall(SYS_fdatasync, fd));
}
