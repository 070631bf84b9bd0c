// A private Dovecot for one interop test: IMAP and POP3 on free loopback ports over a Maildir++
// partition, with the settings docs/dovecot.md gives, and nothing shared with a system Dovecot.
//
// Everything lives under a temporary root: dovecot.conf, base_dir (run/), state_dir (state/) and
// the log (dovecot.log); /etc/dovecot is never read (`dovecot -F -c <root>/dovecot.conf`). Every
// user logs in with the password "secret" (a static passdb); the static userdb maps user@domain to
// the Maildir <partition>/<domain>/<user> (and a user without domain to <partition>/<user>), with
// `quota = maildir` taking its limits from maildirsize. Mail is accessed as the uid and gid
// running the test; as root (Dovecot refuses mail uid 0) as "nobody", and then start() and
// hand_over_partition() give the partition's files to that user, as a site runs Dovecot's mail
// processes as cubby_user.
//
// start() returns once both ports answer; stop() and the destructor send SIGTERM to the master and
// wait for it (SIGKILL after a deadline), so no test leaves a Dovecot running. The master also gets
// SIGTERM if the test process dies without stopping it (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace cubby::interop {

class DovecotInstance {
 public:
  // `root` must exist and belong to the caller; `partition` is the Maildir partition's root.
  DovecotInstance(std::string root, std::string partition);
  ~DovecotInstance();
  DovecotInstance(const DovecotInstance&) = delete;
  DovecotInstance& operator=(const DovecotInstance&) = delete;

  std::optional<std::string> start();  // nullopt, or why it failed (with the log)
  std::optional<std::string> stop();   // nullopt, or what went wrong
  bool running() const { return master_ > 0; }

  int imap_port() const { return imap_port_; }
  int pop3_port() const { return pop3_port_; }
  std::string config_path() const { return root_ + "/dovecot.conf"; }
  uid_t mail_uid() const { return mail_uid_; }
  gid_t mail_gid() const { return mail_gid_; }
  // Gives every file of the partition to mail_uid()/mail_gid() (without following links): what
  // the test wrote as root after start() must be handed over before Dovecot reads it.
  std::optional<std::string> hand_over_partition() const;
  std::string log() const;  // the instance's log so far

  // The configuration start() writes: docs/dovecot.md's settings plus this instance's paths,
  // ports and users.
  std::string config() const;

  static constexpr const char* kPassword = "secret";

 private:
  std::string root_;
  std::string partition_;
  int imap_port_ = 0;
  int pop3_port_ = 0;
  pid_t master_ = -1;
  uid_t mail_uid_ = 0;
  gid_t mail_gid_ = 0;
};

}  // namespace cubby::interop
