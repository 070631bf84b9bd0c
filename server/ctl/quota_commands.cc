// cubbyctl quota ...; see commands.h.
#include <cstdio>

#include "server/ctl/commands.h"
#include "server/ctl/output.h"
#include "store/sqlite.h"

namespace cubby::ctl {
namespace {

std::string limit_text(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "-"; }

std::string percent(int64_t used, const std::optional<int64_t>& limit) {
  if (!limit) return "-";
  if (*limit == 0) return used > 0 ? "over" : "0%";
  return std::to_string(used * 100 / *limit) + "%";
}

// The usage of the mailboxes a root covers, with their physical share.
struct RootUsage {
  int mailboxes = 0;
  double physical = 0;
};

RootUsage root_usage(Context& c, const store::QuotaRoot& root) {
  RootUsage u;
  auto computed = c.store.index().quotas().computed_usage(root.name);
  if (!computed.ok()) return u;
  for (int64_t id : computed->mailboxes) {
    if (auto box = c.store.index().mailbox_by_id(id)) {
      ++u.mailboxes;
      u.physical += usage_of(c, *box).physical;
    }
  }
  return u;
}

std::string root_json(Context& c, const store::QuotaRoot& r, const RootUsage& u) {
  JsonObject o;
  o.add("root", c.store.external_name(r.name));
  r.storage_limit ? o.add("storage_limit_kib", *r.storage_limit) : o.add_null("storage_limit_kib");
  o.add("storage_used_bytes", r.storage_used);
  r.message_limit ? o.add("message_limit", *r.message_limit) : o.add_null("message_limit");
  o.add("message_used", r.message_used);
  o.add("mailboxes", u.mailboxes);
  const auto physical = static_cast<int64_t>(u.physical + 0.5);
  o.add("physical_bytes", physical);
  o.add("saved_by_links_bytes", r.storage_used - physical);
  return o.str();
}

Table root_table() {
  return Table({"ROOT", "STORAGE KiB", "LIMIT KiB", "%", "MESSAGES", "LIMIT", "%", "PHYSICAL KiB",
                "SAVED KiB"});
}

void add_row(Context& c, Table& t, const store::QuotaRoot& r, const RootUsage& u) {
  const auto physical = static_cast<int64_t>(u.physical + 0.5);
  t.add({c.store.external_name(r.name), std::to_string((r.storage_used + 1023) / 1024),
         limit_text(r.storage_limit), percent(r.storage_used, r.storage_limit ? std::optional<int64_t>(*r.storage_limit * 1024) : std::nullopt),
         std::to_string(r.message_used), limit_text(r.message_limit),
         percent(r.message_used, r.message_limit), std::to_string((physical + 1023) / 1024),
         std::to_string((r.storage_used - physical) / 1024)});
}

// Parses "storage=<KiB>|none" or "message=<count>|none" into *storage / *message.
std::optional<std::string> parse_limit(const std::string& arg, std::optional<int64_t>* storage,
                                       std::optional<int64_t>* message, bool* any) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos) return "expected storage=<KiB> or message=<count>, not \"" + arg + "\"";
  std::string key = arg.substr(0, eq), value = arg.substr(eq + 1);
  for (auto& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::optional<int64_t>* target = key == "storage" ? storage : key == "message" || key == "messages" ? message : nullptr;
  if (!target) return "unknown quota resource \"" + key + "\" (storage or message)";
  if (value == "none" || value == "-1") {
    target->reset();
  } else {
    if (value.empty() || value.size() > 15 || value.find_first_not_of("0123456789") != std::string::npos) {
      return "\"" + value + "\" is not a limit (a whole number, or none)";
    }
    *target = std::stoll(value);
  }
  *any = true;
  return std::nullopt;
}

// A Maildir user's quota (maildirsize, shared with Dovecot) in the table and JSON of a root.
int show_maildir(Context& c, const store::MailboxRecord& box, const std::string& shown) {
  auto quota = c.store.maildir_quota(box);
  if (!quota.ok()) return report(quota.error());
  if (!*quota) return complain(kNotFound, "no maildirsize quota for " + shown);
  store::QuotaRoot r;
  r.name = box.name;
  const auto& q = **quota;
  if (q.limits.bytes) r.storage_limit = static_cast<int64_t>(q.limits.bytes / 1024);
  if (q.limits.messages) r.message_limit = static_cast<int64_t>(q.limits.messages);
  r.storage_used = q.usage.bytes;
  r.message_used = q.usage.messages;
  RootUsage u;
  u.mailboxes = 1;
  u.physical = static_cast<double>(q.usage.bytes);  // maildirsize counts each link
  if (c.json) {
    printf("%s\n", root_json(c, r, u).c_str());
  } else {
    Table t = root_table();
    add_row(c, t, r, u);
    printf("%s", t.str().c_str());
  }
  return kOk;
}

int get(Context& c, const Args& args) {
  int code = kOk;
  auto found = find_mailbox(c, args[1], &code);
  if (!found) return code;
  if (c.store.is_maildir(found->record)) return show_maildir(c, found->record, args[1]);
  auto root = c.store.index().quotas().get(found->record.name);
  if (!root.ok()) return report(root.error());
  if (!root.value()) {
    auto covering = c.store.index().quotas().root_of(found->record.name);
    std::string hint;
    if (covering.ok() && covering.value()) {
      hint = " (it is covered by " + c.store.external_name(covering.value()->name) + ")";
    }
    return complain(kNotFound, "no quota root " + args[1] + hint);
  }
  const RootUsage u = root_usage(c, *root.value());
  if (c.json) {
    printf("%s\n", root_json(c, *root.value(), u).c_str());
  } else {
    Table t = root_table();
    add_row(c, t, *root.value(), u);
    printf("%s", t.str().c_str());
  }
  return kOk;
}

int set(Context& c, const Args& args) {
  int code = kOk;
  auto found = find_mailbox(c, args[1], &code);
  if (!found) return code;
  auto current = c.store.index().quotas().get(found->record.name);
  if (!current.ok()) return report(current.error());
  std::optional<int64_t> storage, message;
  if (current.value()) {
    storage = current.value()->storage_limit;
    message = current.value()->message_limit;
  }
  const bool maildir = c.store.is_maildir(found->record);
  if (maildir) {  // the limits in maildirsize
    auto q = c.store.maildir_quota(found->record);
    if (q.ok() && *q) {
      if ((*q)->limits.bytes) storage = static_cast<int64_t>((*q)->limits.bytes / 1024);
      if ((*q)->limits.messages) message = static_cast<int64_t>((*q)->limits.messages);
    }
  }
  bool any = false;
  if (args.size() == 3 && args[2] == "none") {
    storage.reset();
    message.reset();
    any = true;
  } else {
    for (size_t i = 2; i < args.size(); ++i) {
      std::string arg = args[i];
      // Cyrus's cyradm form, "STORAGE 1024 MESSAGE 500", as well as storage=1024.
      if (arg.find('=') == std::string::npos && i + 1 < args.size()) arg += "=" + args[++i];
      if (auto e = parse_limit(arg, &storage, &message, &any)) return complain(kUsage, *e);
    }
  }
  if (!any) return complain(kUsage, usage_text());
  if (!storage && !message && !current.value() && !maildir) {
    return complain(kNotFound, "no quota root " + args[1]);
  }
  if (auto e = c.store.set_quota(found->name, storage, message)) return report(*e);
  if (maildir) return show_maildir(c, found->record, args[1]);
  auto now = c.store.index().quotas().get(found->record.name);
  if (!now.ok()) return report(now.error());
  if (!now.value()) {
    if (c.json) {
      printf("%s\n", JsonObject().add("root", args[1]).add("removed", true).str().c_str());
    } else {
      printf("removed quota root %s\n", args[1].c_str());
    }
    return kOk;
  }
  const RootUsage u = root_usage(c, *now.value());
  if (c.json) {
    printf("%s\n", root_json(c, *now.value(), u).c_str());
  } else {
    Table t = root_table();
    add_row(c, t, *now.value(), u);
    printf("%s", t.str().c_str());
  }
  return kOk;
}

int list(Context& c, const Args& args) {
  const char sep = c.store.config().unix_hierarchy_sep ? '/' : '.';
  auto roots = c.store.index().quotas().list();
  if (!roots.ok()) return report(roots.error());
  Table t = root_table();
  std::vector<std::string> json;
  for (const auto& r : roots.value()) {
    const std::string ext = c.store.external_name(r.name);
    bool wanted = args.size() == 1;
    for (size_t i = 1; i < args.size(); ++i) wanted = wanted || glob_match(args[i], ext, sep);
    if (!wanted) continue;
    const RootUsage u = root_usage(c, r);
    if (c.json) {
      json.push_back(root_json(c, r, u));
    } else {
      add_row(c, t, r, u);
    }
  }
  if (c.json) {
    printf("%s\n", json_array(json).c_str());
  } else if (t.size() > 0) {
    printf("%s", t.str().c_str());
  }
  return kOk;
}

int recalc(Context& c, const Args& args) {
  auto& quotas = c.store.index().quotas();
  std::vector<std::string> roots;
  if (args.size() == 1) {
    auto all = quotas.list();
    if (!all.ok()) return report(all.error());
    for (const auto& r : all.value()) roots.push_back(r.name);
  } else {
    for (size_t i = 1; i < args.size(); ++i) {
      auto name = c.store.parse_name(args[i]);
      if (!name.ok()) return report(name.error());
      auto r = quotas.get(name->internal());
      if (!r.ok()) return report(r.error());
      if (!r.value()) return complain(kNotFound, "no quota root " + args[i]);
      roots.push_back(name->internal());
    }
  }
  Table t({"ROOT", "BYTES BEFORE", "BYTES NOW", "MESSAGES BEFORE", "MESSAGES NOW"});
  std::vector<std::string> json;
  auto txn = store::Transaction::begin(c.store.index().db());
  if (!txn.ok()) return report(txn.error());
  for (const auto& name : roots) {
    auto before = quotas.get(name);
    if (auto e = quotas.recalc(name)) return report(*e);
    auto after = quotas.get(name);
    if (!before.ok() || !after.ok() || !before.value() || !after.value()) continue;
    const auto& b = *before.value();
    const auto& a = *after.value();
    if (c.json) {
      json.push_back(JsonObject()
                         .add("root", c.store.external_name(name))
                         .add("storage_used_before", b.storage_used)
                         .add("storage_used", a.storage_used)
                         .add("message_used_before", b.message_used)
                         .add("message_used", a.message_used)
                         .str());
    } else {
      t.add({c.store.external_name(name), std::to_string(b.storage_used),
             std::to_string(a.storage_used), std::to_string(b.message_used),
             std::to_string(a.message_used)});
    }
  }
  if (auto e = txn->commit()) return report(*e);
  if (c.json) {
    printf("%s\n", json_array(json).c_str());
  } else if (t.size() > 0) {
    printf("%s", t.str().c_str());
  }
  return kOk;
}

}  // namespace

int quota_command(Context& c, const Args& args) {
  if (args.empty()) return complain(kUsage, usage_text());
  const std::string& verb = args[0];
  if (verb == "get" && args.size() == 2) return get(c, args);
  if (verb == "set" && args.size() >= 3) return set(c, args);
  if (verb == "list") return list(c, args);
  if (verb == "recalc") return recalc(c, args);
  return complain(kUsage, usage_text());
}

}  // namespace cubby::ctl
