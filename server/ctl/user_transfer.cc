// cubbyctl user export|import: one user's mailboxes and messages as a stream (store/user_stream.h),
// so that two cubbyctl processes joined by a pipe (or ssh) can copy a user between back ends:
//   user export <user> [--since <mailbox>=<uid>]...   the stream to stdout; only UIDs at or
//                                                      above <uid> in that mailbox (external name)
//   user import [--partition <name>]                  the stream from stdin into this store
// The import keeps UIDs, uniqueids, UID validity, ACLs, flags and quota limits, and a rerun adds
// only what is new (store/import.h). The summary goes to stdout (import) or stderr (export, whose
// stdout is the stream).
#include "server/ctl/user_transfer.h"

#include <unistd.h>

#include <cstdio>

#include "server/ctl/commands.h"
#include "server/ctl/output.h"
#include "store/user_stream.h"

namespace cubby::ctl {

Result<store::MailboxName, std::string> user_inbox(const std::string& user) {
  const size_t at = user.find('@');
  auto name = store::MailboxName::for_user(user.substr(0, at), {},
                                           at == std::string::npos ? "" : user.substr(at + 1));
  if (!name.ok()) return fail(name.error().detail);
  return name.value();
}

namespace {

int export_user(Context& c, const Args& args) {
  std::string user;
  store::UidFloors since;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--since" && i + 1 < args.size()) {
      const std::string& spec = args[++i];
      const size_t eq = spec.rfind('=');
      if (eq == std::string::npos) return complain(kUsage, "--since needs <mailbox>=<uid>");
      auto name = c.store.parse_name(spec.substr(0, eq));
      if (!name.ok()) return complain(kUsage, name.error().detail);
      since[name->internal()] = std::atoll(spec.c_str() + eq + 1);
    } else if (user.empty() && !args[i].empty() && args[i][0] != '-') {
      user = args[i];
    } else {
      return complain(kUsage, usage_text());
    }
  }
  if (user.empty()) return complain(kUsage, usage_text());
  auto inbox = user_inbox(user);
  if (!inbox.ok()) return complain(kUsage, inbox.error());
  auto sent = store::write_user_stream(c.store, *inbox, since, STDOUT_FILENO);
  if (!sent.ok()) return report(sent.error());
  fprintf(stderr, "exported %lld mailboxes, %lld messages, %lld bytes\n",
          static_cast<long long>(sent->mailboxes), static_cast<long long>(sent->messages),
          static_cast<long long>(sent->bytes));
  return kOk;
}

int import_user(Context& c, const Args& args) {
  std::string partition;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--partition" && i + 1 < args.size()) {
      partition = args[++i];
    } else {
      return complain(kUsage, usage_text());
    }
  }
  auto got = store::read_user_stream(c.store, STDIN_FILENO, partition);
  if (!got.ok()) {
    return complain(exit_code(got.error()),
                    got.error().detail + " (what was imported stands; send the stream again)");
  }
  if (c.json) {
    printf("%s\n", JsonObject()
                       .add("mailboxes", got->mailboxes)
                       .add("created", got->created)
                       .add("messages", got->messages)
                       .add("bytes", got->bytes)
                       .add("present", got->present)
                       .str()
                       .c_str());
  } else {
    printf("imported %lld mailboxes (%lld new), %lld messages, %lld bytes; %lld already here\n",
           static_cast<long long>(got->mailboxes), static_cast<long long>(got->created),
           static_cast<long long>(got->messages), static_cast<long long>(got->bytes),
           static_cast<long long>(got->present));
  }
  return kOk;
}

}  // namespace

int user_command(Context& c, const Args& args) {
  const std::string verb = args.empty() ? "" : args[0];
  if (verb == "export") return export_user(c, args);
  if (verb == "import") return import_user(c, args);
  return complain(kUsage, usage_text());
}

}  // namespace cubby::ctl
