// The worker's sendmail children; see outbox.h.
#include "server/lmtpd/outbox.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "conf/log.h"

extern char** environ;

namespace cubby::server {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(50);

// A pidfd for `pid` (readable once it has exited), or -1 where the kernel has none.
int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

std::string seconds(std::chrono::milliseconds d) {
  const auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

}  // namespace

struct Outbox::Child {
  explicit Child(boost::asio::io_context& io) : input(io), exit(io), deadline(io), poll(io) {}
  Outbox* owner = nullptr;  // null once the Outbox is gone: handlers then do nothing
  pid_t pid = -1;
  OutgoingMail mail;
  Done done;
  boost::asio::posix::stream_descriptor input;  // the write end of the child's stdin
  boost::asio::posix::stream_descriptor exit;   // its pidfd
  boost::asio::steady_timer deadline;
  boost::asio::steady_timer poll;  // without a pidfd
  bool timed_out = false;

  void close_all() {
    boost::system::error_code ignored;
    if (input.is_open()) input.close(ignored);
    if (exit.is_open()) exit.close(ignored);
    deadline.cancel();
    poll.cancel();
  }
};

Outbox::Outbox(boost::asio::io_context& io, std::string program, Limits limits)
    : io_(io), program_(std::move(program)), limits_(limits) {
  if (limits_.max_children == 0) limits_.max_children = 1;
  struct sigaction old {};
  if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
    ::signal(SIGPIPE, SIG_IGN);
  }
}

Outbox::~Outbox() {
  for (const auto& child : running_) {
    child->owner = nullptr;
    child->close_all();
    ::kill(child->pid, SIGKILL);
    int status;
    while (::waitpid(child->pid, &status, 0) < 0 && errno == EINTR) {
    }
    CUBBY_LOG_ERR("sendmail to %s (pid %d) killed: the worker is stopping", child->mail.to.c_str(),
                  static_cast<int>(child->pid));
  }
  for (const auto& w : waiting_) {
    CUBBY_LOG_ERR("sendmail to %s: not sent: the worker is stopping", w.mail.to.c_str());
  }
}

void Outbox::send(OutgoingMail mail, Done done) {
  if (waiting_.size() >= limits_.max_waiting && running_.size() >= limits_.max_children) {
    const std::string why = "not sent: " + std::to_string(waiting_.size()) +
                            " messages already wait for a sendmail child";
    boost::asio::post(io_, [done = std::move(done), why] { done(why); });
    return;
  }
  waiting_.push_back(Waiting{std::move(mail), std::move(done)});
  next();
}

void Outbox::next() {
  while (running_.size() < limits_.max_children && !waiting_.empty()) {
    Waiting w = std::move(waiting_.front());
    waiting_.pop_front();
    start(std::move(w));
  }
}

void Outbox::start(Waiting w) {
  auto fail = [&](const std::string& why) {
    boost::asio::post(io_, [done = std::move(w.done), why] { done(why); });
  };
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], STDIN_FILENO);  // dup2 clears CLOEXEC
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);  // lmtpd ignores it; an ignored signal survives exec
  sigaddset(&defaults, SIGCHLD);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const std::string sender = w.mail.envelope_from.empty() ? "<>" : w.mail.envelope_from;
  const char* argv[] = {program_.c_str(), "-i", "-f", sender.c_str(), "--", w.mail.to.c_str(),
                        nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, program_.c_str(), &actions, &attr,
                               const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[0]);
  if (rc != 0) {
    ::close(fds[1]);
    return fail("spawn " + program_ + ": " + std::strerror(rc));
  }
  auto child = std::make_shared<Child>(io_);
  child->owner = this;
  child->pid = pid;
  child->mail = std::move(w.mail);
  child->done = std::move(w.done);
  child->input.assign(fds[1]);
  running_.insert(child);

  // The message, then end of file; a child that stops reading (or exits) ends the write.
  boost::asio::async_write(child->input, boost::asio::buffer(child->mail.message),
                           [child](boost::system::error_code, size_t) {
                             boost::system::error_code ignored;
                             if (child->input.is_open()) child->input.close(ignored);
                           });
  if (limits_.timeout.count() > 0) {
    child->deadline.expires_after(limits_.timeout);
    child->deadline.async_wait([child](boost::system::error_code ec) {
      if (ec || !child->owner) return;
      child->timed_out = true;
      ::kill(child->pid, SIGKILL);  // not reaped yet, so the pid is still this child's
    });
  }
  watch(child);
}

void Outbox::watch(const std::shared_ptr<Child>& child) {
  const int pidfd = open_pidfd(child->pid);
  if (pidfd < 0) return poll(child);
  child->exit.assign(pidfd);
  child->exit.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                         [child](boost::system::error_code ec) {
                           if (ec || !child->owner) return;
                           int status = 0;
                           pid_t r;
                           while ((r = ::waitpid(child->pid, &status, WNOHANG)) < 0 &&
                                  errno == EINTR) {
                           }
                           if (r == child->pid) return child->owner->exited(child, status);
                           // Not yet (a spurious wake-up): wait again.
                           boost::system::error_code ignored;
                           child->exit.close(ignored);
                           child->owner->watch(child);
                         });
}

void Outbox::poll(const std::shared_ptr<Child>& child) {
  child->poll.expires_after(kPollInterval);
  child->poll.async_wait([child](boost::system::error_code ec) {
    if (ec || !child->owner) return;
    int status = 0;
    const pid_t r = ::waitpid(child->pid, &status, WNOHANG);
    if (r == child->pid) return child->owner->exited(child, status);
    child->owner->poll(child);
  });
}

void Outbox::exited(const std::shared_ptr<Child>& child, int status) {
  child->owner = nullptr;
  child->close_all();
  running_.erase(child);
  std::optional<std::string> error;
  if (WIFEXITED(status)) {
    if (WEXITSTATUS(status) != 0) error = "exit status " + std::to_string(WEXITSTATUS(status));
  } else if (child->timed_out) {
    error = "killed after " + seconds(limits_.timeout) + " (sieve_sendmail_timeout)";
  } else if (WIFSIGNALED(status)) {
    error = "killed by signal " + std::to_string(WTERMSIG(status));
  } else {
    error = "ended with status " + std::to_string(status);
  }
  Done done = std::move(child->done);
  next();  // before done(), which may send more
  if (done) done(std::move(error));
}

}  // namespace cubby::server
