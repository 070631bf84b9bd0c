// Outbox: the mail one lmtpd worker sends on behalf of Sieve (redirects, vacation answers) through
// the program the `sendmail` setting names, run as `sendmail -i -f <from> -- <to>` with the message
// on its standard input. Each message is one child process that the worker's event loop watches
// without ever waiting for it: the LMTP replies go out before (and whatever) sendmail does, as in
// Cyrus, which sends after the delivery. So the outcome of a send is only logged by the caller's
// `Done` callback; the delivery it came from stands either way.
//
// Bounds: at most `max_children` children at once (more messages wait their turn in order, at
// most `max_waiting` of them: beyond that a message is refused at once, its Done told why); each
// child gets `timeout` (0: no limit) from its start to exit, after which it is killed (SIGKILL)
// and its Done told so. A child is watched through a pidfd (pidfd_open, Linux 5.3), so there is no SIGCHLD
// handler and no blocking waitpid; where pidfd_open is unavailable its exit is polled every 50 ms.
// The child's stdin is a pipe written asynchronously; its stdout and stderr are the worker's; it
// starts with the default signal dispositions and an empty signal mask.
//
// Used on the io_context's thread only. `send` never blocks (the spawn is posix_spawn, a vfork).
// The process must ignore SIGPIPE (lmtpd does; the constructor sets it when it is the default) so
// that a child that exits before reading everything cannot kill the worker. Destroying the Outbox
// kills and reaps the children still running and drops the messages still waiting (each logged
// here; their Done is not called). While a child runs the io_context has work, so a draining
// worker's run() returns only once every child was reaped (each bounded by `timeout`).
#pragma once

#include <sys/types.h>

#include <boost/asio.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace cubby::server {

// One message to hand to sendmail.
struct OutgoingMail {
  std::string envelope_from;  // "" = the null sender (-f <>)
  std::string to;
  std::string message;  // RFC 5322 bytes
};

class Outbox {
 public:
  struct Limits {
    size_t max_children = 4;           // sieve_sendmail_max_children
    std::chrono::milliseconds timeout{60'000};  // sieve_sendmail_timeout
    size_t max_waiting = 1000;
  };
  // Called on the io_context's thread once the child has exited: nullopt when it exited 0, else
  // why not ("exit status 75", "killed after 60 s", "spawn /usr/sbin/sendmail: No such file...").
  using Done = std::function<void(std::optional<std::string> error)>;

  Outbox(boost::asio::io_context& io, std::string program, Limits limits);
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Queues `mail`; it is started at once when fewer than max_children run. Never blocks.
  void send(OutgoingMail mail, Done done);

  size_t running() const { return running_.size(); }
  size_t waiting() const { return waiting_.size(); }
  const std::string& program() const { return program_; }

 private:
  struct Child;
  struct Waiting {
    OutgoingMail mail;
    Done done;
  };
  void start(Waiting w);
  void watch(const std::shared_ptr<Child>& child);
  void poll(const std::shared_ptr<Child>& child);
  void exited(const std::shared_ptr<Child>& child, int status);
  void next();

  boost::asio::io_context& io_;
  std::string program_;
  Limits limits_;
  std::set<std::shared_ptr<Child>> running_;
  std::deque<Waiting> waiting_;
};

}  // namespace cubby::server
