// Counts lmtpd's fsync() and fdatasync() calls into its worker counters (cubby_store_fsyncs_total),
// the store's and SQLite's alike, without touching either.
//
// These definitions in the executable take the place of the C library's for every caller in the
// process, shared libraries included (ELF symbol interposition: the executable comes first in the
// lookup order). Each one counts and then makes the system call itself. Linked into lmtpd only.
#include <sys/syscall.h>
#include <unistd.h>

#include "server/worker_counters.h"

extern "C" int fsync(int fd) {
  cubby::server::worker_counters().fsyncs.fetch_add(1, std::memory_order_relaxed);
  return static_cast<int>(syscall(SYS_fsync, fd));
}

extern "C" int fdatasync(int fd) {
  cubby::server::worker_counters().fsyncs.fetch_add(1, std::memory_order_relaxed);
  return static_cast<int>(syscall(SYS_fdatasync, fd));
}
