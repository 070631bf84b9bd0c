// cubbyctl mailbox ... and acl ...; see commands.h.
#include <sys/stat.h>

#include <cstdio>

#include "server/ctl/commands.h"
#include "server/ctl/output.h"
#include "store/acl.h"

namespace cubby::ctl {

std::optional<Found> find_mailbox(Context& c, const std::string& external, int* code) {
  auto name = c.store.parse_name(external);
  if (!name.ok()) {
    *code = report(name.error());
    return std::nullopt;
  }
  auto record = c.store.find_mailbox(name.value());
  if (!record) {
    *code = complain(kNotFound, "no mailbox " + external);
    return std::nullopt;
  }
  return Found{std::move(name.value()), std::move(*record)};
}

MailboxUsage usage_of(Context& c, const store::MailboxRecord& box) {
  MailboxUsage u;
  for (const auto& m : c.store.index().messages(box.id)) {
    ++u.messages;
    u.bytes += m.size;
    struct stat st;
    if (::lstat(c.store.message_path(box, m.uid).c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_nlink > 0) {
      u.physical += static_cast<double>(st.st_size) / static_cast<double>(st.st_nlink);
    }
  }
  return u;
}

namespace {

int create(Context& c, const Args& args) {
  auto name = c.store.parse_name(args[1]);
  if (!name.ok()) return report(name.error());
  auto m = c.store.create_mailbox(name.value(), args.size() > 2 ? args[2] : "");
  if (!m.ok()) return report(m.error());
  if (c.json) {
    printf("%s\n", JsonObject()
                       .add("name", args[1])
                       .add("partition", m->partition)
                       .add("uniqueid", m->uniqueid)
                       .str()
                       .c_str());
  } else {
    printf("created %s on partition %s\n", args[1].c_str(), m->partition.c_str());
  }
  return kOk;
}

int remove(Context& c, const Args& args) {
  auto name = c.store.parse_name(args[1]);
  if (!name.ok()) return report(name.error());
  const size_t count = name->is_inbox()
                           ? c.store.index().mailboxes_below(name->internal()).size()
                           : 1;
  if (auto e = c.store.delete_mailbox(name.value())) return report(*e);
  if (c.json) {
    printf("%s\n", JsonObject().add("deleted", args[1]).add("mailboxes", int64_t(count)).str().c_str());
  } else if (count > 1) {
    printf("deleted %s and the %zu mailbox%s below it\n", args[1].c_str(), count - 1,
           count == 2 ? "" : "es");
  } else {
    printf("deleted %s\n", args[1].c_str());
  }
  return kOk;
}

int rename(Context& c, const Args& args) {
  auto from = c.store.parse_name(args[1]);
  if (!from.ok()) return report(from.error());
  auto to = c.store.parse_name(args[2]);
  if (!to.ok()) return report(to.error());
  if (auto e = c.store.rename_mailbox(from.value(), to.value())) return report(*e);
  if (c.json) {
    printf("%s\n", JsonObject().add("renamed", args[1]).add("to", args[2]).str().c_str());
  } else {
    printf("renamed %s to %s\n", args[1].c_str(), args[2].c_str());
  }
  return kOk;
}

int list(Context& c, const Args& args) {
  const char sep = c.store.config().unix_hierarchy_sep ? '/' : '.';
  std::vector<std::string> patterns(args.begin() + 1, args.end());
  Table table({"MAILBOX", "PARTITION", "UIDNEXT"});
  std::vector<std::string> json;
  for (const auto& b : c.store.index().list_mailboxes()) {
    const std::string ext = c.store.external_name(b.name);
    bool wanted = patterns.empty();
    for (const auto& p : patterns) wanted = wanted || glob_match(p, ext, sep);
    if (!wanted) continue;
    if (c.json) {
      json.push_back(JsonObject()
                         .add("name", ext)
                         .add("partition", b.partition)
                         .add("uniqueid", b.uniqueid)
                         .add("uidnext", b.uidnext)
                         .str());
    } else {
      table.add({ext, b.partition, std::to_string(b.uidnext)});
    }
  }
  if (c.json) {
    printf("%s\n", json_array(json).c_str());
  } else if (table.size() > 0) {
    printf("%s", table.str().c_str());
  }
  return kOk;
}

int info(Context& c, const Args& args) {
  int code = kOk;
  auto found = find_mailbox(c, args[1], &code);
  if (!found) return code;
  const auto& b = found->record;
  const MailboxUsage u = usage_of(c, b);
  auto root = c.store.index().quotas().root_of(b.name);
  const std::string quota_root =
      root.ok() && root.value() ? c.store.external_name(root.value()->name) : "";
  const std::string path = c.store.mailbox_dir(b);
  if (c.json) {
    JsonObject o;
    o.add("name", args[1]).add("internal_name", b.name).add("partition", b.partition);
    o.add("path", path).add("uniqueid", b.uniqueid).add("uidvalidity", b.uidvalidity);
    o.add("uidnext", b.uidnext).add("messages", u.messages).add("bytes", u.bytes);
    o.add("physical_bytes", static_cast<int64_t>(u.physical + 0.5)).add("acl", b.acl);
    if (quota_root.empty()) {
      o.add_null("quota_root");
    } else {
      o.add("quota_root", quota_root);
    }
    o.add("created", b.created);
    printf("%s\n", o.str().c_str());
    return kOk;
  }
  Table t({"FIELD", "VALUE"});
  t.add({"name", args[1]});
  t.add({"internal name", b.name});
  t.add({"partition", b.partition});
  t.add({"path", path});
  t.add({"unique id", b.uniqueid});
  t.add({"uid validity", std::to_string(b.uidvalidity)});
  t.add({"uid next", std::to_string(b.uidnext)});
  t.add({"messages", std::to_string(u.messages)});
  t.add({"bytes", std::to_string(u.bytes) + " (" + human_bytes(static_cast<uint64_t>(u.bytes)) + ")"});
  t.add({"physical bytes", std::to_string(static_cast<int64_t>(u.physical + 0.5)) +
                               " (each file's size divided by its links)"});
  std::string acl;
  if (auto parsed = store::Acl::parse(b.acl); parsed.ok()) {
    for (const auto& [id, rights] : parsed->entries()) acl += (acl.empty() ? "" : " ") + id + " " + rights;
  }
  t.add({"acl", acl.empty() ? "(none)" : acl});
  t.add({"quota root", quota_root.empty() ? "(none)" : quota_root});
  t.add({"created", human_time(b.created)});
  printf("%s", t.str().c_str());
  return kOk;
}

}  // namespace

int mailbox_command(Context& c, const Args& args) {
  if (args.empty()) return complain(kUsage, usage_text());
  const std::string& verb = args[0];
  if (verb == "create" && (args.size() == 2 || args.size() == 3)) return create(c, args);
  if (verb == "delete" && args.size() == 2) return remove(c, args);
  if (verb == "rename" && args.size() == 3) return rename(c, args);
  if (verb == "list") return list(c, args);
  if (verb == "info" && args.size() == 2) return info(c, args);
  return complain(kUsage, usage_text());
}

int acl_command(Context& c, const Args& args) {
  if (args.size() == 2 && args[0] == "get") {
    int code = kOk;
    auto found = find_mailbox(c, args[1], &code);
    if (!found) return code;
    auto acl = store::Acl::parse(found->record.acl);
    if (!acl.ok()) return complain(kFailed, args[1] + ": " + acl.error());
    if (c.json) {
      std::vector<std::string> entries;
      for (const auto& [id, rights] : acl->entries()) {
        entries.push_back(JsonObject().add("identifier", id).add("rights", rights).str());
      }
      printf("%s\n", json_array(entries).c_str());
    } else {
      Table t({"IDENTIFIER", "RIGHTS"});
      for (const auto& [id, rights] : acl->entries()) t.add({id, rights});
      printf("%s", t.str().c_str());
    }
    return kOk;
  }
  if (args.size() == 4 && args[0] == "set") {
    int code = kOk;
    auto found = find_mailbox(c, args[1], &code);
    if (!found) return code;
    auto acl = store::Acl::parse(found->record.acl);
    if (!acl.ok()) return complain(kFailed, args[1] + ": " + acl.error());
    const std::string& id = args[2];
    // "+lp" adds to the identifier's rights, "-p" takes away, anything else replaces them.
    if (auto e = acl->change(id, args[3])) return complain(kUsage, *e);
    if (auto e = c.store.set_acl(found->record, acl->str())) return report(*e);
    const std::string rights = acl->entry(id);
    if (c.json) {
      printf("%s\n", JsonObject()
                         .add("mailbox", args[1])
                         .add("identifier", id)
                         .add("rights", rights)
                         .str()
                         .c_str());
    } else if (rights.empty()) {
      printf("%s: removed %s\n", args[1].c_str(), id.c_str());
    } else {
      printf("%s: %s %s\n", args[1].c_str(), id.c_str(), rights.c_str());
    }
    return kOk;
  }
  return complain(kUsage, usage_text());
}

}  // namespace cubby::ctl
