// cubbyctl reconstruct, verify, check, stats, recover; see commands.h.
#include <cstdio>

#include "server/ctl/commands.h"
#include "server/ctl/output.h"
#include "store/check.h"
#include "store/reconstruct.h"
#include "store/recovery.h"
#include "store/verify.h"

namespace cubby::ctl {
namespace {

std::string lines_json(const std::vector<std::string>& lines) {
  std::vector<std::string> items;
  for (const auto& l : lines) items.push_back(json_string(l));
  return json_array(items);
}

}  // namespace

int reconstruct_command(Context& c, const Args& args) {
  std::vector<store::MailboxName> only;
  for (const auto& a : args) {
    auto name = c.store.parse_name(a);
    if (!name.ok()) return report(name.error());
    only.push_back(std::move(name.value()));
  }
  auto r = store::reconstruct(c.store, only);
  if (!r.ok()) return report(r.error());
  if (c.json) {
    printf("%s\n", JsonObject()
                       .add("mailboxes", r->mailboxes)
                       .add("mailboxes_added", r->mailboxes_added)
                       .add("found", r->found)
                       .add("rediscovered", r->rediscovered)
                       .add("removed", r->removed)
                       .add("corrected", r->corrected)
                       .add_raw("events", lines_json(r->events))
                       .add_raw("problems", lines_json(r->problems))
                       .str()
                       .c_str());
  } else {
    for (const auto& e : r->events) printf("%s\n", e.c_str());
    for (const auto& p : r->problems) printf("problem: %s\n", p.c_str());
    printf("%d mailboxes (%d added), %d messages found, %d rediscovered, %d removed, "
           "%d corrected, %zu problems\n",
           r->mailboxes, r->mailboxes_added, r->found, r->rediscovered, r->removed, r->corrected,
           r->problems.size());
  }
  return r->problems.empty() ? kOk : kFailed;
}

int verify_command(Context& c, const Args& args) {
  std::vector<std::string> names;
  for (const auto& a : args) {
    int code = kOk;
    auto found = find_mailbox(c, a, &code);
    if (!found) return code;
    names.push_back(found->record.name);
  }
  auto r = store::verify(c.store, names);
  if (c.json) {
    printf("%s\n", JsonObject()
                       .add("messages", r.messages)
                       .add("files", r.files)
                       .add("bytes", r.bytes)
                       .add_raw("problems", lines_json(r.problems))
                       .str()
                       .c_str());
  } else {
    for (const auto& p : r.problems) printf("%s\n", p.c_str());
    printf("%llu messages in %llu files (%s) verified, %zu problems\n",
           static_cast<unsigned long long>(r.messages), static_cast<unsigned long long>(r.files),
           human_bytes(r.bytes).c_str(), r.problems.size());
  }
  return r.ok() ? kOk : kFailed;
}

int check_command(Context& c, const Args& args) {
  if (!args.empty()) return complain(kUsage, usage_text());
  auto r = store::check(c.store);
  if (c.json) {
    printf("%s\n", JsonObject()
                       .add("mailboxes", r.mailboxes)
                       .add("messages", r.messages)
                       .add_raw("problems", lines_json(r.problems))
                       .str()
                       .c_str());
  } else {
    for (const auto& p : r.problems) printf("%s\n", p.c_str());
    printf("%llu mailboxes, %llu messages, %zu problems\n",
           static_cast<unsigned long long>(r.mailboxes),
           static_cast<unsigned long long>(r.messages), r.problems.size());
  }
  return r.ok() ? kOk : kFailed;
}

int stats_command(Context& c, const Args& args) {
  if (!args.empty()) return complain(kUsage, usage_text());
  auto all = store::stats(c.store);
  if (c.json) {
    std::vector<std::string> items;
    for (const auto& p : all) {
      items.push_back(JsonObject()
                          .add("partition", p.partition)
                          .add("messages", p.messages)
                          .add("logical_bytes", p.logical_bytes)
                          .add("physical_bytes", p.physical_bytes)
                          .add("inodes", p.inodes)
                          .add("ratio", p.ratio())
                          .str());
    }
    printf("%s\n", json_array(items).c_str());
    return kOk;
  }
  Table t({"PARTITION", "MESSAGES", "LOGICAL BYTES", "PHYSICAL BYTES", "FILES", "DEDUP RATIO"});
  for (const auto& p : all) {
    char ratio[32];
    snprintf(ratio, sizeof ratio, "%.2f", p.ratio());
    t.add({p.partition, std::to_string(p.messages), std::to_string(p.logical_bytes),
           std::to_string(p.physical_bytes), std::to_string(p.inodes), ratio});
  }
  printf("%s", t.str().c_str());
  return kOk;
}

int recover_command(Context& c, const Args& args) {
  if (!args.empty()) return complain(kUsage, usage_text());
  auto r = store::recover(c.store.config(), c.store.index());
  if (!r.ok()) return complain(kFailed, "recovery failed: " + r.error().detail);
  if (c.json) {
    printf("%s\n", JsonObject()
                       .add("stage_files_removed", r->stage_files_removed)
                       .add("empty_stage_files_removed", r->empty_stage_files_removed)
                       .add("stage_files_retired", r->stage_files_retired)
                       .add("links_restored", r->links_restored)
                       .add("stage_files_live", r->stage_files_live)
                       .add_raw("undone", lines_json(r->undone))
                       .str()
                       .c_str());
  } else {
    printf("%d uncommitted stage files removed (and %d empty ones), %d committed made durable, "
           "%d links restored, %d stage files in use by live workers, %zu unacknowledged "
           "deliveries taken back\n",
           r->stage_files_removed, r->empty_stage_files_removed, r->stage_files_retired,
           r->links_restored, r->stage_files_live, r->undone.size());
    for (const auto& l : r->undone) printf("taken back: %s\n", l.c_str());
  }
  return kOk;
}

const char* usage_text() {
  return "usage: cubbyctl [-C settings] [--json] <command> ...\n"
         "  mailbox create <mailbox> [partition]\n"
         "  mailbox delete <mailbox>            (a user's INBOX: the user and every folder)\n"
         "  mailbox rename <mailbox> <new name> (with the mailboxes below it)\n"
         "  mailbox list [pattern...]           ('*' matches anything, '%' stops at the separator)\n"
         "  mailbox info <mailbox>\n"
         "    with directory_backend: postgresql these run on the user's back end through\n"
         "    directory_admin_command and keep the directory in step (docs/scale-out.md):\n"
         "  mailbox create <user mailbox> [--backend B] [--partition P]   a new user goes to B or\n"
         "                                      the back end with the fewest users\n"
         "  mailbox list [pattern...]           every back end's mailboxes, with a BACKEND column\n"
         "  mailbox <verb> --local ...          this store, even with a directory configured\n"
         "  acl get <mailbox>\n"
         "  acl set <mailbox> <identifier> <rights>   (letters lrswipkxtean, a set such as post or\n"
         "                                             all, +letters, -letters, none to remove)\n"
         "  quota get <root>\n"
         "  quota set <root> [storage=<KiB>|none] [message=<count>|none]   (quota set <root> none\n"
         "                                                                   removes the root;\n"
         "                                   cyradm's form STORAGE <KiB> MESSAGE <count> works too)\n"
         "  quota list [pattern...]\n"
         "  quota recalc [root...]\n"
         "  message list <mailbox>\n"
         "  message show <mailbox> <uid>\n"
         "  message delete <mailbox> <uid>...\n"
         "  reconstruct [mailbox...]   rebuild index rows from the files\n"
         "  verify [mailbox...]        re-hash every file and compare with the index\n"
         "  check                      index and files agree (invariants 3 and 4, quota usage)\n"
         "  stats                      messages, logical and physical bytes per partition\n"
         "  recover                    repair after a crash (what every worker does at start)\n"
         "  convert --to maildir|cyrus [--into <partition>] --mailbox <mailbox> | --user <user> |\n"
         "          --partition <partition>\n"
         "                             change format (Cyrus layout <-> Maildir++) in place or into\n"
         "                             another partition; a user's mailboxes go together; safe to\n"
         "                             interrupt: run it again to finish\n"
         "  duplicates prune --days <n> | duplicates count\n"
         "  sieve list|deactivate <user> | sieve get|activate|delete|check <user> <name>\n"
         "  sieve put <user> <name> <file|-> | sieve check <file>\n"
         "  sieve test [--user U] [--from ADDR] [--to ADDR] <script> <message>\n"
         "  import-cyrus --cyrus-config <imapd.conf> [--cyrus-tools DIR] [--partition NAME]\n"
         "               [--dry-run] [mailbox...]   move a Cyrus store in (UIDs kept, files\n"
         "                                          hard-linked); run again for what arrived since\n"
         "  config                     the effective settings and where each comes from\n"
         "  status [--metrics]         ask the running cubby-master about services and workers\n"
         "  directory list | directory locate|remove <user>   the mailbox directory in PostgreSQL\n"
         "  directory set <user> <backend> [partition]        (docs/scale-out.md)\n"
         "  directory move <user> --to <backend> [--partition NAME] [--target-command CMD]\n"
         "                 [--grace SECONDS] [--keep-source]   move a user to another back end\n"
         "                             while mail arrives (run it on the back end holding the user)\n"
         "  user export <user> [--since <mailbox>=<uid>]...   the user as a stream on stdout\n"
         "  user import [--partition NAME]                    read such a stream from stdin\n"
         "exit codes: 0 done, 1 problems found or failed, 2 no such mailbox/message/root,\n"
         "            3 name taken, 64 usage, 78 configuration error";
}

}  // namespace cubby::ctl
