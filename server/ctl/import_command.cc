// cubbyctl import-cyrus: moves a Cyrus store into Cubby's (docs/guide.md, "Moving a Cyrus store").
//
//   cubbyctl import-cyrus --cyrus-config <imapd.conf> [--cyrus-tools DIR] [--partition NAME]
//                         [--dry-run] [mailbox...]
// Reads the Cyrus store through Cyrus's tools (cyrus_store.h): the mailbox list, each mailbox's
// index (mbexamine, 64 mailboxes per run), the quota roots. Each mailbox is imported as
// store/import.h says (uniqueid, UID validity, ACL, every message under its UID, hard-linked),
// then every quota root gets Cyrus's limits and its usage is recomputed. Run again, it adds only
// what Cyrus received since. Named mailboxes (Cubby's external form) limit it to them and the
// mailboxes below them.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "server/ctl/commands.h"
#include "server/ctl/cyrus_store.h"
#include "server/ctl/output.h"
#include "store/acl.h"
#include "store/import.h"

namespace cubby::ctl {
namespace {

struct Options {
  std::string cyrus_config;
  std::string tools;
  std::string partition;
  bool dry_run = false;
  std::vector<store::MailboxName> only;
};

bool selected(const Options& o, const store::MailboxName& name) {
  if (o.only.empty()) return true;
  for (const auto& n : o.only) {
    if (n.contains(name)) return true;
  }
  return false;
}

// Cyrus's ACL (identifier → rights letters) in Cubby's stored form; c and d are expanded.
Result<std::string, std::string> acl_of(const ctl::CyrusMailbox& m) {
  auto acl = store::Acl::parse("");
  if (!acl.ok()) return fail(acl.error());
  for (const auto& [who, letters] : m.acl) {
    auto rights = store::parse_rights(letters);
    if (!rights.ok())
      return fail(m.name + ": ACL entry " + who + " " + letters + ": " + rights.error());
    if (auto e = acl->set(who, rights.value()))
      return fail(m.name + ": ACL entry " + who + ": " + *e);
  }
  return acl->str();
}

}  // namespace

int import_cyrus_command(Context& c, const Args& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    if (a == "--cyrus-config") {
      if (!value(&o.cyrus_config)) return complain(kUsage, "--cyrus-config needs a file");
    } else if (a == "--cyrus-tools") {
      if (!value(&o.tools)) return complain(kUsage, "--cyrus-tools needs a directory");
    } else if (a == "--partition") {
      if (!value(&o.partition)) return complain(kUsage, "--partition needs a name");
    } else if (a == "--dry-run" || a == "-n") {
      o.dry_run = true;
    } else if (!a.empty() && a[0] == '-') {
      return complain(kUsage, "import-cyrus: unknown option " + a);
    } else {
      auto name = c.store.parse_name(a);
      if (!name.ok()) return report(name.error());
      o.only.push_back(std::move(name.value()));
    }
  }
  if (o.cyrus_config.empty()) {
    return complain(kUsage, "import-cyrus needs --cyrus-config <Cyrus's imapd.conf>");
  }
  if (!o.partition.empty() && !c.store.config().partitions.count(o.partition)) {
    return complain(kUsage, "no partition \"" + o.partition + "\" in Cubby's settings");
  }
  auto tools = find_cyrus_tools(o.tools);
  if (!tools.ok()) return complain(kConfig, tools.error());
  auto run = [&](const std::string& tool, const std::vector<std::string>& a) {
    return run_cyrus_tool(tools.value(), o.cyrus_config, tool, a);
  };

  auto conf_all = run("cyr_info", {"conf-all"});
  if (!conf_all.ok()) return complain(kFailed, conf_all.error());
  const auto sep = cyrus_setting(conf_all.value(), "unixhierarchysep");
  const bool unix_sep = sep && (*sep == "yes" || *sep == "1" || *sep == "on" || *sep == "true");
  auto dump = run("ctl_mboxlist", {"-d"});
  if (!dump.ok()) return complain(kFailed, dump.error());
  auto mailboxes = parse_mboxlist_dump(dump.value());
  if (!mailboxes.ok()) return complain(kFailed, mailboxes.error());

  std::vector<std::string> problems, events;
  int examined = 0, created = 0, added = 0, linked = 0, present = 0;
  int64_t bytes = 0;
  std::map<std::string, std::string> internal_of;  // Cyrus's external name → internal
  std::vector<std::pair<const CyrusMailbox*, store::MailboxName>> todo;
  for (const auto& m : mailboxes.value()) {
    internal_of[cyrus_external_name(m.name, unix_sep)] = m.name;
    internal_of[m.name] = m.name;
    if (!m.importable()) continue;
    auto name = store::MailboxName::from_internal(m.name);
    if (!name.ok()) {
      problems.push_back(m.name + ": " + name.error().detail + " (left out)");
      continue;
    }
    if (selected(o, name.value())) todo.emplace_back(&m, std::move(name.value()));
  }

  auto import_one = [&](const CyrusMailbox& m, const store::MailboxName& name,
                        std::string_view section) {
    ++examined;
    auto index = parse_mbexamine(section);
    if (!index.ok()) {
      problems.push_back(m.name + ": " + index.error());
      return;
    }
    auto acl = acl_of(m);
    if (!acl.ok()) {
      problems.push_back(acl.error());
      return;
    }
    store::ImportedMailbox box{name,
                               "",
                               m.uniqueid,
                               index->uidvalidity ? index->uidvalidity : m.uidvalidity,
                               index->last_uid + 1,
                               acl.value(),
                               {}};
    if (!o.partition.empty()) {
      box.partition = o.partition;
    } else if (c.store.config().partitions.count(m.partition)) {
      box.partition = m.partition;
    }
    for (const auto& r : index->records) {
      if (r.expunged) continue;
      if (r.archived) {
        problems.push_back(m.name + ": UID " + std::to_string(r.uid) +
                           " is on Cyrus's archive partition: not imported");
        continue;
      }
      store::ImportedMessage msg{r.uid, index->path + "/" + std::to_string(r.uid) + ".",
                                 r.internaldate, r.flags};
      struct stat st;
      if (::stat(msg.path.c_str(), &st) != 0) {
        problems.push_back(m.name + ": UID " + std::to_string(r.uid) + ": " + msg.path +
                           " is missing: not imported");
        continue;
      }
      box.messages.push_back(std::move(msg));
    }
    auto result = store::import_mailbox(c.store, box, o.dry_run);
    if (!result.ok()) {
      problems.push_back(c.store.external_name(m.name) + ": " + result.error().detail);
      return;
    }
    if (result->created) ++created;
    added += result->added;
    linked += result->linked;
    present += result->present;
    bytes += result->bytes;
    if (result->created || result->added > 0) {
      events.push_back(c.store.external_name(m.name) + ": " + (result->created ? "created, " : "") +
                       std::to_string(result->added) + " messages " +
                       (o.dry_run ? "to add" : "added") +
                       (o.dry_run ? "" : " (" + std::to_string(result->linked) + " linked)"));
    }
  };
  // mbexamine for a batch of mailboxes at a time: one start-up per batch, and the text of one
  // batch in memory (about 1 KiB per message).
  constexpr size_t kBatch = 64;
  for (size_t first = 0; first < todo.size(); first += kBatch) {
    const size_t end = std::min(todo.size(), first + kBatch);
    std::vector<std::string> names;
    for (size_t i = first; i < end; ++i)
      names.push_back(cyrus_external_name(todo[i].first->name, unix_sep));
    auto text = run("mbexamine", names);
    if (!text.ok()) {
      // One mailbox mbexamine cannot read fails the whole run: find it by asking one at a time.
      for (size_t i = first; i < end; ++i) {
        auto one = run("mbexamine", {names[i - first]});
        if (!one.ok()) {
          problems.push_back(todo[i].first->name + ": " + one.error());
        } else {
          import_one(*todo[i].first, todo[i].second, one.value());
        }
      }
      continue;
    }
    std::map<std::string, std::string_view> sections;
    for (const auto& [shown, section] : split_mbexamine(text.value())) sections[shown] = section;
    for (size_t i = first; i < end; ++i) {
      auto s = sections.find(names[i - first]);
      if (s != sections.end()) {
        import_one(*todo[i].first, todo[i].second, s->second);
        continue;
      }
      // Not found under the name it was asked by (a form of the name this parser did not
      // expect): alone, the whole output is its.
      auto one = run("mbexamine", {names[i - first]});
      if (!one.ok()) {
        problems.push_back(todo[i].first->name + ": " + one.error());
      } else {
        import_one(*todo[i].first, todo[i].second, one.value());
      }
    }
  }

  // Quota roots: Cyrus's limits, then Cubby's usage recomputed from the imported messages.
  int roots = 0;
  auto quota_text = run("quota", {"-J"});
  if (!quota_text.ok()) {
    problems.push_back(quota_text.error());
  } else if (auto quotas = parse_quota_json(quota_text.value()); !quotas.ok()) {
    problems.push_back(quotas.error());
  } else {
    for (const auto& q : quotas.value()) {
      auto known = internal_of.find(q.root);
      auto name =
          store::MailboxName::from_internal(known == internal_of.end() ? q.root : known->second);
      if (!name.ok()) {
        problems.push_back("quota root " + q.root + ": " + name.error().detail);
        continue;
      }
      if (!selected(o, name.value())) continue;
      if (!q.storage_limit && !q.message_limit) continue;  // no limit: nothing to keep
      ++roots;
      if (o.dry_run) continue;
      std::optional<int64_t> storage_kib;
      if (q.storage_limit) storage_kib = (*q.storage_limit + 1023) / 1024;
      if (auto e = c.store.set_quota(name.value(), storage_kib, q.message_limit)) {
        problems.push_back("quota root " + q.root + ": " + e->detail);
        continue;
      }
      auto now = c.store.index().quotas().get(name->internal());
      if (now.ok() && now.value() &&
          (now.value()->storage_used != q.storage_used ||
           now.value()->message_used != q.message_used)) {
        events.push_back("note: quota root " + c.store.external_name(name->internal()) +
                         ": Cyrus counts " + std::to_string(q.storage_used) + " bytes in " +
                         std::to_string(q.message_used) + " messages, Cubby " +
                         std::to_string(now.value()->storage_used) + " bytes in " +
                         std::to_string(now.value()->message_used) +
                         " (mail arrived meanwhile, or Cyrus's usage is stale: quota -f)");
      }
    }
  }

  if (c.json) {
    std::vector<std::string> ev, pr;
    for (const auto& e : events) ev.push_back(json_string(e));
    for (const auto& p : problems) pr.push_back(json_string(p));
    printf("%s\n", JsonObject()
                       .add("dry_run", o.dry_run)
                       .add("mailboxes", examined)
                       .add("mailboxes_created", created)
                       .add("messages_added", added)
                       .add("messages_linked", linked)
                       .add("messages_present", present)
                       .add("bytes_added", bytes)
                       .add("quota_roots", roots)
                       .add_raw("events", json_array(ev))
                       .add_raw("problems", json_array(pr))
                       .str()
                       .c_str());
  } else {
    for (const auto& e : events) printf("%s\n", e.c_str());
    for (const auto& p : problems) printf("problem: %s\n", p.c_str());
    printf(
        "%s%d mailboxes (%d %s), %d messages %s (%d linked, %d copied, %lld bytes), "
        "%d already here, %d quota roots, %zu problems\n",
        o.dry_run ? "dry run: " : "", examined, created, o.dry_run ? "to create" : "created", added,
        o.dry_run ? "to add" : "added", linked, o.dry_run ? 0 : added - linked,
        static_cast<long long>(bytes), present, roots, problems.size());
  }
  return problems.empty() ? kOk : kFailed;
}

}  // namespace cubby::ctl
