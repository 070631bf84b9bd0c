// fsync() and fdatasync() of the test_store executable: counted, then passed on to the next
// definition (the C library's, or a sanitizer's interceptor); see sync_counter.h. The executable's
// definitions take the place of the C library's for every caller in the process, SQLite included.
#include "tests/store/sync_counter.h"

#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

namespace {
std::atomic<uint64_t> g_syncs{0};
using SyncFn = int (*)(int);
SyncFn next_sync(const char* name) { return reinterpret_cast<SyncFn>(dlsym(RTLD_NEXT, name)); }
}  // namespace

namespace cubby::store::testing {
uint64_t syncs_so_far() { return g_syncs.load(); }
}  // namespace cubby::store::testing

extern "C" int fsync(int fd) {
  g_syncs.fetch_add(1);
  static SyncFn next = next_sync("fsync");
  return next ? next(fd) : static_cast<int>(syscall(SYS_fsync, fd));
}

extern "C" int fdatasync(int fd) {
  g_syncs.fetch_add(1);
  static SyncFn next = next_sync("fdatasync");
  return next ? next(fd) : static_cast<int>(syscall(SYS_fdatasync, fd));
}
