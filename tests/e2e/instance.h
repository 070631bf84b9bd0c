// A private Cubby for one end-to-end test: temporary directories, a settings and a services file,
// cubby-master running in the foreground, and cubbyctl to create mailboxes and inspect the store.
//
// CubbyInstance::start() writes <root>/imapd.conf (with `lmtpsocket:` naming the UNIX socket below,
// for deliver) and <root>/cyrus.conf with three services:
//   lmtpunix  lmtpd     on <root>/socket/lmtp           (pre-authenticated: a local peer)
//   lmtp      lmtpd -a  on 127.0.0.1:<tcp_port()>       (pre-authenticated by -a)
//   lmtpauth  lmtpd     on 127.0.0.1:<auth_port()>      (must AUTH before MAIL)
// each with prefork=1, picks free loopback ports, starts cubby-master and returns once the UNIX
// socket and both ports accept connections (a greeting, or a 421 when the settings refuse the
// loopback address). The master's stderr goes to <root>/master.log.
// Destroying the instance stops the master with SIGTERM and waits for it (SIGKILL after 20 s).
// The directories belong to the caller's TempDir objects, so that a second instance can be
// started on the same store after the first one was killed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/e2e/process.h"

namespace cubby::e2e {

// A directory under /tmp removed with everything in it when the object goes (kept when the
// environment has CUBBY_E2E_KEEP set, for a post-mortem).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct InstanceOptions {
  std::string root;         // holds the settings, lib/, spool/, socket/ (required)
  std::string second_root;  // when set: partition p2 at <second_root>/spool
  // Extra settings lines ("lmtp_idle_timeout: 2").
  std::vector<std::string> settings;
  // Extra entries inside SERVICES { } after the three above ("lmtpx cmd=\"lmtpd\" listen=..."),
  // and whole sections (EVENTS, DAEMON) after it. start() does not wait for extra entries.
  std::vector<std::string> extra_services;
  std::string extra_sections;
  // Extra keys for the lmtpunix entry ("mode=0660 group=postfix"), so that another user may
  // connect to the socket.
  std::string unix_service_options;
  // Environment variables for cubby-master (and so its workers), e.g. LD_PRELOAD of the fault
  // interposer; cubbyctl run by the test does not get them.
  std::vector<std::pair<std::string, std::string>> master_env;
};

// One line of `cubbyctl message list`.
struct MessageRow {
  int64_t uid = 0;
  uint64_t size = 0;
  int64_t internaldate = 0;
  std::string guid;
  bool operator==(const MessageRow&) const = default;
};

// One partition of `cubbyctl stats --json` (also "total").
struct PartitionStats {
  uint64_t messages = 0, logical_bytes = 0, physical_bytes = 0, inodes = 0;
};

class CubbyInstance {
 public:
  explicit CubbyInstance(InstanceOptions options);
  ~CubbyInstance();
  CubbyInstance(const CubbyInstance&) = delete;
  CubbyInstance& operator=(const CubbyInstance&) = delete;

  // Writes the files and starts the master; on failure returns why (with the master's log).
  std::optional<std::string> start();
  // SIGTERM to the master; waits for it to exit; returns its wait status (nullopt: still running).
  std::optional<int> stop(std::chrono::milliseconds timeout = 20s);
  // SIGSTOPs the master (so it respawns nothing), SIGKILLs every worker, then the master.
  void crash();
  // The master's wait status once it has exited by itself (after a signal the test sent).
  std::optional<int> wait_master(std::chrono::milliseconds timeout);

  pid_t master_pid() const { return master_; }
  bool running() const { return master_ > 0; }
  // Live lmtpd workers of one service ("lmtpunix", "lmtp", "lmtpauth"), or of all when empty.
  std::vector<pid_t> workers(const std::string& service = "") const;

  const std::string& root() const { return options_.root; }
  std::string settings_path() const { return options_.root + "/imapd.conf"; }
  std::string services_path() const { return options_.root + "/cyrus.conf"; }
  std::string socket_path() const { return options_.root + "/socket/lmtp"; }
  std::string spool() const { return options_.root + "/spool"; }
  std::string spool2() const { return options_.second_root + "/spool"; }
  int tcp_port() const { return tcp_port_; }
  int auth_port() const { return auth_port_; }
  std::string log() const;  // the master's and workers' log so far
  // Sanitizer runs (ASAN_OPTIONS, UBSAN_OPTIONS or TSAN_OPTIONS set): start() sends the reports
  // of every process it starts, and of cubbyctl and deliver started after it, to
  // <root>/sanitizer/. Their text, "" when there are none (or in a plain build). Stop the instance
  // first to include LeakSanitizer's reports, written when a process exits.
  std::string sanitizer_reports() const;

  // cubbyctl -C <settings> args...
  ProgramResult ctl(const std::vector<std::string>& args) const;
  // `mailbox create user/<user> [partition]`; returns an error description or nullopt.
  std::optional<std::string> create_mailbox(const std::string& user,
                                            const std::string& partition = "") const;
  // `message list user/<user>`; nullopt (and *error) if cubbyctl failed.
  std::optional<std::vector<MessageRow>> messages(const std::string& user,
                                                  std::string* error = nullptr) const;
  // `message list <mailbox>` for any mailbox name ("user/alice/Work", "shared/news@example.com").
  std::optional<std::vector<MessageRow>> mailbox_messages(const std::string& mailbox,
                                                          std::string* error = nullptr) const;
  // The directory of a mailbox (`mailbox info --json`), or nullopt.
  std::optional<std::string> mailbox_path(const std::string& mailbox) const;
  // `stats --json` by partition name; empty if cubbyctl failed.
  std::map<std::string, PartitionStats> stats() const;

  // Directory of user/<user> on a partition root, and the path of one message file in it.
  static std::string mailbox_dir(const std::string& spool, const std::string& user);
  static std::string message_file(const std::string& spool, const std::string& user, int64_t uid);
  // The stage files in <spool>/stage./ that hold a message (not the empty ones a worker names
  // ahead, store/stage_reserve.h), and the "<uid>." files of a mailbox directory.
  static std::vector<std::string> stage_files(const std::string& spool);
  static std::vector<std::string> message_files(const std::string& spool, const std::string& user);
  // Waits until no partition's stage directory holds a message (stage_files()): the committer's
  // checkpoint has made every link durable and retired the stage files (rows are no longer
  // pending).
  bool wait_settled(std::chrono::milliseconds timeout = 10s) const;

 private:
  void write_files();
  std::string sanitizer_dir() const;
  void direct_sanitizer_reports() const;
  bool accepting() const;

  InstanceOptions options_;
  pid_t master_ = -1;
  int tcp_port_ = 0, auth_port_ = 0;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_tcp_port();

// Whether an LMTP server on 127.0.0.1:`port` greets with 220 within `timeout` (tried again every
// 10 ms): for services that CubbyInstance::start() does not wait for (extra_services).
bool wait_for_greeting(int port, std::chrono::milliseconds timeout);

// Every name in `dir` but "." and "..", in directory order; none when it cannot be read.
std::vector<std::string> list_dir(const std::string& dir);

}  // namespace cubby::e2e
