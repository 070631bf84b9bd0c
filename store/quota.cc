// Quota roots, the quota rule and usage accounting; see quota.h.
#include "store/quota.h"

#include <algorithm>

namespace cubby::store {
namespace {

QuotaRoot read_root(const Statement& s) {
  QuotaRoot r;
  r.name = s.text_at(0);
  if (!s.null_at(1)) r.storage_limit = s.int_at(1);
  if (!s.null_at(2)) r.message_limit = s.int_at(2);
  r.storage_used = s.int_at(3);
  r.message_used = s.int_at(4);
  return r;
}

// Binds an optional limit: NULL for none.
void bind_limit(Statement& s, int index, const std::optional<int64_t>& v) {
  if (v) {
    s.bind(index, *v);
  } else {
    s.bind_null(index);
  }
}

}  // namespace

bool exceeds(const QuotaRoot& root, int64_t bytes, int64_t messages) {
  if (root.storage_limit && root.storage_used + bytes > *root.storage_limit * 1024) return true;
  if (root.message_limit && root.message_used + messages > *root.message_limit) return true;
  return false;
}

std::optional<Error> check_delivery_quota(const QuotaRoot& root, int64_t size, bool strict) {
  if (!exceeds(root, strict ? size : 0, strict ? 1 : 0)) return std::nullopt;
  return Error{Errc::kOverQuota, "quota root " + root.name + " is over its limit"};
}

int percent_used(const QuotaRoot& root, int64_t bytes, int64_t messages) {
  int64_t pct = 0;
  if (root.storage_limit) {
    const int64_t limit = *root.storage_limit * 1024;
    pct = limit > 0 ? (root.storage_used + bytes) * 100 / limit : (root.storage_used + bytes > 0 ? 100 : 0);
  }
  if (root.message_limit) {
    const int64_t limit = *root.message_limit;
    const int64_t m = limit > 0 ? (root.message_used + messages) * 100 / limit
                                : (root.message_used + messages > 0 ? 100 : 0);
    pct = std::max(pct, m);
  }
  return static_cast<int>(std::min<int64_t>(pct, 1000000));
}

std::vector<std::string> quota_root_candidates(std::string_view mailbox) {
  std::vector<std::string> out;
  const size_t bang = mailbox.find('!');
  const size_t floor = bang == std::string_view::npos ? 0 : bang + 1;
  std::string_view name = mailbox;
  for (;;) {
    out.emplace_back(name);
    const size_t dot = name.rfind('.');
    if (dot == std::string_view::npos || dot < floor) break;
    name = name.substr(0, dot);
  }
  return out;
}

struct QuotaTable::Statements {
  explicit Statements(Db& db)
      : any(db, "SELECT EXISTS(SELECT 1 FROM quotaroots)"),
        get(db,
            "SELECT name, storage_limit, message_limit, storage_used, message_used "
            "FROM quotaroots WHERE name = ?"),
        list(db,
             "SELECT name, storage_limit, message_limit, storage_used, message_used "
             "FROM quotaroots ORDER BY name"),
        charge(db,
               "UPDATE quotaroots SET storage_used = storage_used + ?, "
               "message_used = message_used + ? WHERE name = ?"),
        upsert(db,
               "INSERT INTO quotaroots(name, storage_limit, message_limit) VALUES(?, ?, ?) "
               "ON CONFLICT(name) DO UPDATE SET storage_limit = excluded.storage_limit, "
               "message_limit = excluded.message_limit"),
        remove(db, "DELETE FROM quotaroots WHERE name = ?"),
        set_used(db, "UPDATE quotaroots SET storage_used = ?, message_used = ? WHERE name = ?"),
        mailboxes_below(db,
                        "SELECT id, name FROM mailboxes WHERE name = ? OR "
                        "(name > ? AND name < ?)"),
        usage(db,
              "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM (SELECT size FROM messages WHERE "
              "mailbox = ?1 UNION ALL SELECT size FROM deliveries WHERE mailbox = ?1)") {}
  Statement any, get, list, charge, upsert, remove, set_used, mailboxes_below, usage;
};

QuotaTable::QuotaTable(Db& db) : st_(std::make_unique<Statements>(db)) {}
QuotaTable::QuotaTable(QuotaTable&&) noexcept = default;
QuotaTable::~QuotaTable() = default;

Result<bool, Error> QuotaTable::any() {
  auto row = st_->any.step();
  if (!row.ok()) return fail(row.error());
  const bool out = row.value() && st_->any.int_at(0) != 0;
  st_->any.reset();
  return out;
}

Result<std::optional<QuotaRoot>, Error> QuotaTable::get(std::string_view root) {
  auto& s = st_->get;
  s.bind(1, root);
  auto row = s.step();
  if (!row.ok()) return fail(row.error());
  std::optional<QuotaRoot> out;
  if (row.value()) out = read_root(s);
  s.reset();
  return out;
}

Result<std::optional<QuotaRoot>, Error> QuotaTable::root_of(std::string_view mailbox) {
  for (const auto& candidate : quota_root_candidates(mailbox)) {
    auto root = get(candidate);
    if (!root.ok() || root.value()) return root;
  }
  return std::optional<QuotaRoot>();
}

Result<std::vector<QuotaRoot>, Error> QuotaTable::list() {
  std::vector<QuotaRoot> out;
  auto& s = st_->list;
  for (;;) {
    auto row = s.step();
    if (!row.ok()) return fail(row.error());
    if (!row.value()) break;
    out.push_back(read_root(s));
  }
  s.reset();
  return out;
}

std::optional<Error> QuotaTable::charge(std::string_view root, int64_t bytes, int64_t messages) {
  return st_->charge.bind(1, bytes).bind(2, messages).bind(3, root).run();
}

std::optional<Error> QuotaTable::set(std::string_view root, std::optional<int64_t> storage_limit,
                                     std::optional<int64_t> message_limit) {
  auto before = root_of(root);  // the root that covered it until now (maybe itself)
  if (!before.ok()) return before.error();
  auto& s = st_->upsert;
  s.bind(1, root);
  bind_limit(s, 2, storage_limit);
  bind_limit(s, 3, message_limit);
  if (auto e = s.run()) return e;
  if (auto e = recalc(root)) return e;
  if (before.value() && before.value()->name != root) return recalc(before.value()->name);
  return std::nullopt;
}

std::optional<Error> QuotaTable::remove(std::string_view root) {
  if (auto e = st_->remove.bind(1, root).run()) return e;
  auto now = root_of(root);
  if (!now.ok()) return now.error();
  if (now.value()) return recalc(now.value()->name);
  return std::nullopt;
}

Result<std::pair<int64_t, int64_t>, Error> QuotaTable::mailbox_usage(int64_t mailbox_id) {
  auto& s = st_->usage;
  s.bind(1, mailbox_id);
  auto row = s.step();
  if (!row.ok()) return fail(row.error());
  std::pair<int64_t, int64_t> out{s.int_at(0), s.int_at(1)};
  s.reset();
  return out;
}

Result<QuotaTable::Usage, Error> QuotaTable::computed_usage(std::string_view root) {
  // Mailboxes named `root` or below it: "root" and "root." up to "root/" ('/' follows '.').
  std::vector<std::pair<int64_t, std::string>> boxes;
  auto& s = st_->mailboxes_below;
  const std::string name(root);
  s.bind(1, name).bind(2, name + ".").bind(3, name + "/");
  for (;;) {
    auto row = s.step();
    if (!row.ok()) return fail(row.error());
    if (!row.value()) break;
    boxes.emplace_back(s.int_at(0), s.text_at(1));
  }
  s.reset();
  Usage usage;
  for (const auto& [id, box] : boxes) {
    auto covering = root_of(box);
    if (!covering.ok()) return fail(covering.error());
    if (!covering.value() || covering.value()->name != root) continue;  // a deeper root's
    auto one = mailbox_usage(id);
    if (!one.ok()) return fail(one.error());
    usage.messages += one->first;
    usage.bytes += one->second;
    usage.mailboxes.push_back(id);
  }
  return usage;
}

std::optional<Error> QuotaTable::recalc(std::string_view root) {
  auto usage = computed_usage(root);
  if (!usage.ok()) return usage.error();
  return st_->set_used.bind(1, usage->bytes).bind(2, usage->messages).bind(3, root).run();
}

}  // namespace cubby::store
