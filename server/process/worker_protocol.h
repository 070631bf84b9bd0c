// How cubby-master and its workers (lmtpd) talk: what a worker inherits and what it reports.
//
// A worker is exec'd with:
//   fd 3  the write end of its service's status pipe (kStatusFd);
//   fd 4  the listening socket of its service address (kListenFd), non-blocking;
//   fd 5  its counters: a shared-memory region the master reads (kCountersFd, worker_counters.h);
//   CYRUS_SERVICE=<service name>  (settings overrides <service>_<option> use it),
//   CYRUS_ID=<index of the listening address within the service>;
//   argv: the entry's cmd=, with `-C <absolute path of the master's settings file>` inserted after
//   argv[0] when cmd= has none (Cyrus does not pass -C on; administrators trip over that);
//   CUBBY_LOG_STDERR=1 when the master runs with -D.
// It reports with fixed-size StatusMessage writes (atomic on a pipe): kReady once it accepts
// connections and whenever it has room again, kBusy when it is at its connection limit (or stopping),
// kConnection for each connection accepted, kIdle when its last open connection has closed (so the
// master can tell a worker that dies with connections open from one that dies idle). The master counts a worker as ready from its fork until
// it says otherwise. On SIGTERM a worker stops accepting, finishes every transaction in flight, and
// exits 0; on SIGHUP it does the same (it is being recycled, after a reload). A worker also ends by
// itself, exiting 0 once idle: after -U connections, after -T seconds without a session (once it
// has served one), and when its executable has been replaced on disk.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace cubby::server {

constexpr int kStatusFd = 3;
constexpr int kListenFd = 4;
constexpr int kCountersFd = 5;

enum class WorkerStatus : int32_t {
  kReady = 1,       // has room for more connections
  kBusy = 2,        // at its connection limit, or draining
  kConnection = 3,  // accepted a connection (for accounting)
  kIdle = 4,        // has no connection open any more
};

struct StatusMessage {
  WorkerStatus status;
  pid_t pid;
};

}  // namespace cubby::server
