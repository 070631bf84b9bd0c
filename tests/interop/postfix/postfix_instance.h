// A private Postfix for one interop test: its own config_directory, queue_directory and
// data_directory under a temporary root, its log in <root>/maillog (written by postlogd, since
// this machine has no syslog), an smtpd on a free loopback port, and nothing shared with a system
// Postfix: no file outside <root> is written and no daemon outside this instance is signalled.
//
// Configure first (set(), add_service(), write_table()), then start(): it writes main.cf and
// master.cf, runs `postfix -c <config> check` (which creates the queue directories) and
// `postfix -c <config> start`, and returns once smtpd answers. Changing the configuration later
// needs restart() (stop and start: unlike `postfix reload`, nothing of the old configuration is
// still running when it returns).
//
// No test may leave a Postfix running. stop() and the destructor run `postfix stop`, wait for the
// master and for every process of the instance (those whose environment has
// MAIL_CONFIG=<config>) to exit, and SIGKILL what is left after a deadline. A guard process,
// started in its own session before the master, does the same if the test process dies without
// running its destructors (a crash, a ctest timeout): it waits on a pipe that only the test
// process holds open.
//
// Root is needed: `postfix start`, and sendmail -C / postqueue -c with a config directory that is
// not listed in /etc/postfix/main.cf (Postfix trusts root with any config directory; a Debian
// "No configuration" install has no /etc/postfix/main.cf at all).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/e2e/process.h"

namespace cubby::interop {

using e2e::ProgramResult;
using namespace std::chrono_literals;

// One message for smtp(): envelope and content (CRLF line ends, not dot-stuffed).
struct Submission {
  std::string from;
  std::vector<std::string> rcpts;
  std::string content;
};

class PostfixInstance {
 public:
  // `root` must exist and belong to the caller; the instance creates config/, queue/, data/ and
  // mail/ (local(8)'s mail_spool_directory) in it and makes it traversable for the postfix user.
  explicit PostfixInstance(std::string root);
  ~PostfixInstance();
  PostfixInstance(const PostfixInstance&) = delete;
  PostfixInstance& operator=(const PostfixInstance&) = delete;

  // Sets a main.cf parameter, replacing the default or an earlier value; an empty value is
  // written as "name =" (Postfix's way to say "none").
  void set(const std::string& name, const std::string& value);
  // Removes a parameter from main.cf, so that Postfix's default applies.
  void unset(const std::string& name);
  // Adds a master.cf entry, e.g. "lmtp1 unix - - n - - lmtp -o syslog_name=postfix/lmtp1".
  void add_service(const std::string& entry);
  // Writes <config>/<name> and indexes it (postalias for "aliases", else postmap); returns the
  // lookup table ("hash:<config>/<name>"), or an error through *error.
  std::string write_table(const std::string& name, const std::string& content, std::string* error);

  std::optional<std::string> start();  // nullopt, or why it failed
  // Stops the instance; nullopt, or what went wrong (processes that had to be killed).
  std::optional<std::string> stop();
  std::optional<std::string> restart();
  bool running() const { return running_; }

  const std::string& root() const { return root_; }
  std::string config_dir() const { return root_ + "/config"; }
  std::string queue_dir() const { return root_ + "/queue"; }
  std::string mail_spool() const { return root_ + "/mail"; }
  std::string maillog_path() const { return root_ + "/maillog"; }
  int smtp_port() const { return smtp_port_; }
  std::string maillog() const;

  // sendmail -C <config> -f <from> <rcpts...> with `content` on stdin (CRLF becomes LF, as a
  // local program would write it).
  ProgramResult sendmail(const std::string& from, const std::vector<std::string>& rcpts,
                         std::string_view content);
  // Submits the messages over SMTP to the instance's smtpd, one session, one transaction each;
  // returns "" or the first unexpected reply.
  std::string smtp(const std::vector<Submission>& messages);
  // postqueue -c <config> args...; postqueue -p lists the queue with the reason of each delay.
  ProgramResult postqueue(const std::vector<std::string>& args);

  // Messages in the queue (maildrop, incoming, active, deferred, hold).
  size_t queued() const;
  // Waits until the queue is empty, asking for a queue run (postqueue -f) every `flush_every`.
  bool wait_queue_empty(std::chrono::milliseconds timeout,
                        std::chrono::milliseconds flush_every = 2s);

  // The lines of the maillog that match `pattern` (std::regex, ECMAScript, searched anywhere).
  std::vector<std::string> log_lines(const std::string& pattern) const;
  // Waits until at least `count` lines match; returns the matching lines at that point.
  std::vector<std::string> wait_log(const std::string& pattern, size_t count,
                                    std::chrono::milliseconds timeout) const;

  // Processes of this instance: every process whose environment has MAIL_CONFIG=<config>.
  std::vector<pid_t> processes() const;

 private:
  void write_config() const;
  std::optional<std::string> start_guard();
  void release_guard();

  std::string root_;
  int smtp_port_ = 0;
  std::vector<std::pair<std::string, std::string>> params_;
  std::vector<std::string> services_;
  bool running_ = false;
  pid_t guard_ = -1;
  int guard_fd_ = -1;  // write end of the guard's pipe
};

}  // namespace cubby::interop
