// cubbyctl directory move: moves a user from this back end to another while mail keeps arriving
// (docs/scale-out.md, "Moving a user"). Run on the source back end, with settings that reach the
// directory:
//   directory move <user> --to <backend> [--partition <name>] [--target-command <command>]
//                  [--grace <seconds>] [--keep-source]
// The steps, each safe to repeat (a rerun of the same command finishes an interrupted move):
//   1. pass 1: the user's mailboxes go as a user stream (store/user_stream.h) into the target
//      command's stdin (`cubbyctl user import` there), mail still being delivered here;
//   2. mark: the user's mailboxes here are marked `converting` (deliveries get 451 4.3.0, the
//      front end passes it on, the MTA retries); deliveries committed before the mark are waited
//      for (up to 10 s) until their files stand;
//   3. pass 2: only what arrived since pass 1; every mailbox must then be complete (sent up to its
//      uidnext), else the move stops;
//   4. switch: the directory row names the target (one UPDATE);
//   5. grace, then delete: the marked mailboxes stay here (a front end with a stale cached answer
//      gets 451, not 550 or a new INBOX) for --grace seconds, by default this configuration's
//      directory_cache_seconds + directory_stale_seconds, then they are deleted; with
//      --keep-source they stay, marked, for the administrator to delete (cubbyctl mailbox delete).
// Before the switch an error clears the mark (the user stays deliverable here, the directory
// still says here, the target's partial copy is completed by the next run); after it, the user is
// deliverable only on the target. When the switch's answer is lost and the directory cannot be
// read back, the mark stays (451 on both sides) until a rerun settles it.
// The target command is run with /bin/sh -c, " --partition <name>" appended; by default
// "ssh <host> cubbyctl user import" for a host:port back end.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "directory/postgres_directory.h"
#include "server/ctl/commands.h"
#include "server/ctl/output.h"
#include "server/ctl/user_transfer.h"
#include "store/sqlite.h"
#include "store/user_stream.h"

namespace cubby::ctl {
namespace {

struct MoveOptions {
  std::string user, to, partition = "default", target_command;
  std::optional<int64_t> grace_seconds;
  bool keep_source = false;
};

// One pass: the stream since `since` into the target command; what was sent, or why it failed.
Result<store::UserStreamSummary, std::string> send_pass(Context& c, const std::string& command,
                                                        const store::MailboxName& inbox,
                                                        const store::UidFloors& since) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail(std::string("pipe failed"));
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return fail(std::string("fork failed"));
  }
  if (pid == 0) {
    ::dup2(fds[0], STDIN_FILENO);
    ::dup2(STDERR_FILENO, STDOUT_FILENO);  // the target's summary goes with our messages
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[0]);
  auto sent = store::write_user_stream(c.store, inbox, since, fds[1]);
  ::close(fds[1]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const bool target_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!sent.ok()) {
    return fail("sending " + c.store.external_name(inbox.internal()) + ": " + sent.error().detail +
                (target_ok ? "" : " (the target command failed)"));
  }
  if (!target_ok) {
    return fail("the target command failed (" +
                (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                   : std::string("killed")) +
                "): " + command);
  }
  return sent.value();
}

// Sets or clears the mark on every mailbox of the user here, in one transaction.
std::optional<std::string> set_mark(Context& c, const store::MailboxName& inbox, bool on) {
  auto& index = c.store.index();
  auto txn = store::Transaction::begin(index.db());
  if (!txn.ok()) return txn.error().detail;
  for (const auto& box : index.mailboxes_below(inbox.internal())) {
    if (box.converting == on) continue;
    if (auto e = index.set_converting(box.id, on)) return e->detail;
  }
  if (auto e = txn->commit()) return e->detail;
  return std::nullopt;
}

// Waits until every committed message of the user has its file (deliveries committed before the
// mark have run their link step); why not, after 10 s.
std::optional<std::string> wait_for_deliveries(Context& c, const store::MailboxName& inbox) {
  auto& index = c.store.index();
  for (int attempt = 0;; ++attempt) {
    std::string waiting;
    for (const auto& box : index.mailboxes_below(inbox.internal())) {
      for (const auto& row : index.messages(box.id)) {
        struct stat st;
        if (row.pending && ::lstat(c.store.message_path(box, row).c_str(), &st) != 0) {
          waiting = c.store.external_name(box.name) + " uid " + std::to_string(row.uid);
        }
      }
    }
    if (waiting.empty()) return std::nullopt;
    if (attempt >= 100) return waiting + " is still being delivered after 10 s";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// What a pass 2 must have sent: every mailbox of the user up to its uidnext here.
std::optional<std::string> left_behind(Context& c, const store::MailboxName& inbox,
                                       const store::UidFloors& sent) {
  for (const auto& box : c.store.index().mailboxes_below(inbox.internal())) {
    if (!box.converting) return c.store.external_name(box.name) + " was made during the move";
    auto it = sent.find(box.name);
    if (it == sent.end() || it->second != box.uidnext) {
      return c.store.external_name(box.name) + " was not sent completely";
    }
  }
  return std::nullopt;
}

int finish_source(Context& c, const MoveOptions& o, const store::MailboxName& inbox) {
  if (o.keep_source) {
    printf(
        "%s: the mailboxes here stay, marked (deliveries get 451); delete them with "
        "cubbyctl mailbox delete %s once no front end can have the old answer cached\n",
        o.user.c_str(), c.store.external_name(inbox.internal()).c_str());
    return kOk;
  }
  const int64_t grace = o.grace_seconds
                            ? *o.grace_seconds
                            : (c.settings.get_duration("directory_cache_seconds").count() +
                               c.settings.get_duration("directory_stale_seconds").count() + 999) /
                                  1000;
  printf("%s: waiting %lld s (front ends' cached answers) before deleting the mailboxes here\n",
         o.user.c_str(), static_cast<long long>(grace));
  fflush(stdout);
  std::this_thread::sleep_for(std::chrono::seconds(grace));
  if (auto e = c.store.delete_mailbox(inbox)) {
    return complain(exit_code(*e), o.user + ": deleting the old copy: " + e->detail +
                                       " (the user lives on the target; run the move again)");
  }
  printf("%s: moved to %s; the old copy is deleted\n", o.user.c_str(), o.to.c_str());
  return kOk;
}

}  // namespace

int directory_move_command(Context& c, const Args& args) {
  // A target command that dies makes our writes fail with EPIPE, reported, instead of killing us.
  ::signal(SIGPIPE, SIG_IGN);
  MoveOptions o;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "--to" && has_value) {
      o.to = args[++i];
    } else if (a == "--partition" && has_value) {
      o.partition = args[++i];
    } else if (a == "--target-command" && has_value) {
      o.target_command = args[++i];
    } else if (a == "--grace" && has_value) {
      o.grace_seconds = std::atoll(args[++i].c_str());
    } else if (a == "--keep-source") {
      o.keep_source = true;
    } else if (o.user.empty() && !a.empty() && a[0] != '-') {
      o.user = a;
    } else {
      return complain(kUsage, usage_text());
    }
  }
  if (o.user.empty() || o.to.empty()) return complain(kUsage, usage_text());
  if (c.settings.get_string("directory_backend") != "postgresql") {
    return complain(kConfig, "directory_backend is not postgresql: there is no directory");
  }
  const std::string conninfo = c.settings.get_string("directory_conninfo");
  if (conninfo.empty()) return complain(kConfig, "directory_conninfo is empty");
  if (o.target_command.empty()) {
    const size_t colon = o.to.rfind(':');
    if (o.to.rfind("unix:", 0) == 0 || colon == std::string::npos) {
      return complain(kUsage, "--target-command is needed for back end " + o.to);
    }
    o.target_command = "ssh " + o.to.substr(0, colon) + " cubbyctl user import";
  }
  const std::string command = o.target_command + " --partition " + o.partition;
  auto inbox = user_inbox(o.user);
  if (!inbox.ok()) return complain(kUsage, inbox.error());
  directory::PostgresDirectory dir(conninfo);
  auto where = dir.locate(o.user);
  if (!where.ok()) {
    if (where.error().fault == directory::Fault::kUnknownUser) {
      return complain(kNotFound, o.user + ": not in the directory");
    }
    return complain(kFailed, "directory: " + where.error().detail);
  }
  const auto here = c.store.index().find_mailbox(inbox->internal());
  if (where->backend == o.to) {
    // Switched already: an earlier run stopped before deleting the old copy, or nothing to do.
    if (here && here->converting) return finish_source(c, o, *inbox);
    printf("%s: already on %s\n", o.user.c_str(), o.to.c_str());
    return kOk;
  }
  if (!here) {
    return complain(kNotFound, o.user + ": no INBOX in this store (the directory says " +
                                   where->backend + "): run the move on that back end");
  }
  // Before the switch every failure leaves the user here, deliverable.
  auto abandon = [&](const std::string& why) {
    if (auto e = set_mark(c, *inbox, false)) {
      return complain(kFailed, o.user + ": " + why + "; clearing the mark failed too (" + *e +
                                   "): run the move again");
    }
    return complain(kFailed, o.user + ": " + why + " (the user stays here; run the move again)");
  };

  auto first = send_pass(c, command, *inbox, {});
  if (!first.ok()) return abandon("pass 1: " + first.error());
  printf("%s: pass 1 sent %lld messages (%lld bytes)\n", o.user.c_str(),
         static_cast<long long>(first->messages), static_cast<long long>(first->bytes));

  store::UidFloors floors = first->sent_up_to;
  // A mailbox made during pass 2 (a Sieve fileinto) is caught by left_behind(): mark and send
  // again, a few times.
  for (int round = 0;; ++round) {
    if (auto e = set_mark(c, *inbox, true)) return abandon("marking: " + *e);
    if (auto e = wait_for_deliveries(c, *inbox)) return abandon(*e);
    auto second = send_pass(c, command, *inbox, floors);
    if (!second.ok()) return abandon("pass 2: " + second.error());
    for (const auto& [name, upto] : second->sent_up_to) floors[name] = upto;
    printf("%s: pass 2 sent %lld messages (%lld bytes)\n", o.user.c_str(),
           static_cast<long long>(second->messages), static_cast<long long>(second->bytes));
    auto missing = left_behind(c, *inbox, floors);
    if (!missing) break;
    if (round >= 3) return abandon(*missing);
  }

  if (auto error = dir.assign(o.user, {o.to, o.partition})) {
    auto now = dir.locate(o.user);
    if (!now.ok()) {
      return complain(kFailed, o.user + ": switching the directory: " + *error +
                                   "; it cannot be read back, so the mailboxes here stay marked "
                                   "(451): run the move again");
    }
    if (now->backend != o.to) return abandon("switching the directory: " + *error);
  }
  printf("%s: the directory now says %s\n", o.user.c_str(), o.to.c_str());
  fflush(stdout);
  return finish_source(c, o, *inbox);
}

}  // namespace cubby::ctl
