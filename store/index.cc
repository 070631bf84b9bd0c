// The SQLite index: schema and queries; see index.h.
#include "store/index.h"

#include <sys/random.h>

#include <cstdio>
#include <ctime>

#include "store/schema.h"

namespace cubby::store {
namespace {

constexpr const char* kMailboxColumns =
    "id, name, uniqueid, partition, dir, uidvalidity, uidnext, created, acl, format, converting";

MailboxRecord read_mailbox(const Statement& s) {
  return MailboxRecord{s.int_at(0), s.text_at(1), s.text_at(2), s.text_at(3), s.text_at(4),
                       s.int_at(5), s.int_at(6),  s.int_at(7),  s.text_at(8), s.text_at(9),
                       s.int_at(10) != 0};
}

MessageRecord read_message(const Statement& s) {
  return MessageRecord{s.int_at(0), s.int_at(1), s.text_at(2), s.int_at(3),
                       s.int_at(4), s.text_at(5), s.int_at(6) != 0, s.text_at(7)};
}

// The first row the bound statement `s` returns, as `read` makes it; nothing when there is none or
// the step fails (a lookup that fails is a miss). Resets `s`.
template <typename Read>
auto first_row(Statement& s, Read read) -> std::optional<decltype(read(s))> {
  auto row = s.step();
  std::optional<decltype(read(s))> out;
  if (row.ok() && row.value()) out = read(s);
  s.reset();
  return out;
}

// Every row the bound statement `s` returns, as `read` makes them, up to the first failing step.
// Resets `s`.
template <typename Read>
auto all_rows(Statement& s, Read read) -> std::vector<decltype(read(s))> {
  std::vector<decltype(read(s))> out;
  for (;;) {
    auto row = s.step();
    if (!row.ok() || !row.value()) break;
    out.push_back(read(s));
  }
  s.reset();
  return out;
}

std::string new_uniqueid() {
  unsigned char b[16];
  if (getrandom(b, sizeof b, 0) != sizeof b) {
    for (auto& c : b) c = static_cast<unsigned char>(std::rand());
  }
  char out[33];
  for (int i = 0; i < 16; ++i) snprintf(out + 2 * i, 3, "%02x", b[i]);
  return out;
}

}  // namespace

struct Index::Statements {
  explicit Statements(Db& db)
      : find_mailbox(db, (std::string("SELECT ") + kMailboxColumns +
                          " FROM mailboxes WHERE name = ?").c_str()),
        mailbox_by_id(db, (std::string("SELECT ") + kMailboxColumns +
                           " FROM mailboxes WHERE id = ?").c_str()),
        mailbox_by_uniqueid(db, (std::string("SELECT ") + kMailboxColumns +
                                 " FROM mailboxes WHERE uniqueid = ?").c_str()),
        list_mailboxes(db, (std::string("SELECT ") + kMailboxColumns +
                            " FROM mailboxes ORDER BY name").c_str()),
        insert_mailbox(db,
                       "INSERT INTO mailboxes(name, uniqueid, partition, dir, uidvalidity, "
                       "uidnext, created, acl) VALUES(?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"),
        mailboxes_between(db, (std::string("SELECT ") + kMailboxColumns +
                               " FROM mailboxes WHERE name >= ? AND name < ? ORDER BY name")
                                  .c_str()),
        set_acl(db, "UPDATE mailboxes SET acl = ? WHERE id = ?"),
        rename_mailbox(db, "UPDATE mailboxes SET name = ?, dir = ? WHERE id = ?"),
        delete_mailbox(db, "DELETE FROM mailboxes WHERE id = ?"),
        allocate_uid(db,
                     "UPDATE mailboxes SET uidnext = uidnext + 1 WHERE id = ? "
                     "RETURNING uidnext - 1"),
        raise_uidnext(db, "UPDATE mailboxes SET uidnext = max(uidnext, ?) WHERE id = ?"),
        // A delivery's row goes to `deliveries` until a checkpoint has made its file durable
        // (schema.h, step 9); a row known durable (import, reconstruct) straight to `messages`.
        insert_delivery(db,
                        "INSERT INTO deliveries(mailbox, uid, guid, size, internaldate, stage, "
                        "file) VALUES(?, ?, ?, ?, ?, ?, ?)"),
        insert_message(db,
                       "INSERT INTO messages(mailbox, uid, guid, size, internaldate, stage, pending, "
                       "file) VALUES(?, ?, ?, ?, ?, ?, 0, ?)"),
        delete_message(db, "DELETE FROM messages WHERE mailbox = ? AND uid = ?"),
        delete_pending(db, "DELETE FROM deliveries WHERE mailbox = ? AND uid = ?"),
        delete_delivery(db, "DELETE FROM deliveries WHERE stage = ? AND mailbox = ? AND uid = ?"),
        // A pending row's flags go with it when it is taken back (a durable row's go by the
        // trigger message_flags_follow).
        delete_flags(db, "DELETE FROM message_flags WHERE mailbox = ? AND uid = ?"),
        messages(db,
                 "SELECT mailbox, uid, guid, size, internaldate, stage, pending, file FROM messages "
                 "WHERE mailbox = ?1 UNION ALL "
                 "SELECT mailbox, uid, guid, size, internaldate, stage, 1, file FROM deliveries "
                 "WHERE mailbox = ?1 ORDER BY uid"),
        message(db,
                "SELECT mailbox, uid, guid, size, internaldate, stage, pending, file FROM messages "
                "WHERE mailbox = ?1 AND uid = ?2 UNION ALL "
                "SELECT mailbox, uid, guid, size, internaldate, stage, 1, file FROM deliveries "
                "WHERE mailbox = ?1 AND uid = ?2"),
        staged_rows(db,
                    "SELECT d.mailbox, d.uid, d.guid, d.size, d.internaldate, d.stage, 1, d.file, "
                    "b.partition FROM deliveries d JOIN mailboxes b ON b.id = d.mailbox "
                    "ORDER BY d.rowid"),
        catalog_generation(db, "SELECT value FROM meta WHERE key = 'catalog_generation'") {}
  Statement find_mailbox, mailbox_by_id, mailbox_by_uniqueid, list_mailboxes, insert_mailbox, mailboxes_between,
      set_acl, rename_mailbox, delete_mailbox,
      allocate_uid, raise_uidnext, insert_delivery, insert_message, delete_message, delete_pending,
      delete_delivery, delete_flags, messages, message, staged_rows,
      catalog_generation;
};

Result<Index, Error> Index::open(const std::string& path) {
  auto db = Db::open(path);
  if (!db.ok()) return fail(db.error());
  if (auto e = migrate(db.value())) return fail(*e);
  return Index(std::move(db.value()));
}

Index::Index(Db db)
    : db_(std::make_unique<Db>(std::move(db))),
      st_(std::make_unique<Statements>(*db_)),
      quotas_(std::make_unique<QuotaTable>(*db_)),
      duplicates_(std::make_unique<DuplicateMarks>(*db_)) {}
Index::Index(Index&&) noexcept = default;
Index::~Index() {
  // statements go before their connection
  duplicates_.reset();
  quotas_.reset();
  st_.reset();
}

Result<int64_t, Error> Index::catalog_generation() {
  auto& s = st_->catalog_generation;
  auto row = s.step();
  if (!row.ok()) {
    s.reset();
    return fail(row.error());
  }
  if (!row.value()) {
    s.reset();
    return fail(Error{Errc::kCorrupt, "the index has no catalog generation"});
  }
  const int64_t out = s.int_at(0);
  s.reset();
  return out;
}

std::optional<MailboxRecord> Index::find_mailbox(const std::string& name) {
  auto& s = st_->find_mailbox;
  s.bind(1, name);
  return first_row(s, read_mailbox);
}

std::optional<MailboxRecord> Index::mailbox_by_id(int64_t id) {
  auto& s = st_->mailbox_by_id;
  s.bind(1, id);
  return first_row(s, read_mailbox);
}

std::optional<MailboxRecord> Index::mailbox_by_uniqueid(const std::string& uniqueid) {
  if (uniqueid.empty()) return std::nullopt;
  auto& s = st_->mailbox_by_uniqueid;
  s.bind(1, uniqueid);
  return first_row(s, read_mailbox);
}

std::vector<MailboxRecord> Index::list_mailboxes() {
  auto& s = st_->list_mailboxes;
  return all_rows(s, read_mailbox);
}

Result<MailboxRecord, Error> Index::insert_mailbox(const std::string& name,
                                                   const std::string& partition,
                                                   const std::string& dir, const std::string& acl) {
  MailboxRecord m;
  m.name = name;
  m.partition = partition;
  m.dir = dir;
  m.acl = acl;
  return restore_mailbox(std::move(m));
}

Result<MailboxRecord, Error> Index::restore_mailbox(MailboxRecord m) {
  if (m.uniqueid.empty()) m.uniqueid = new_uniqueid();
  const auto now = static_cast<int64_t>(time(nullptr));
  if (m.uidvalidity == 0) m.uidvalidity = now;
  if (m.created == 0) m.created = now;
  if (m.uidnext < 1) m.uidnext = 1;
  auto& s = st_->insert_mailbox;
  s.bind(1, m.name).bind(2, m.uniqueid).bind(3, m.partition).bind(4, m.dir);
  s.bind(5, m.uidvalidity).bind(6, m.uidnext).bind(7, m.created).bind(8, m.acl);
  auto row = s.step();
  if (!row.ok()) {
    s.reset();
    return fail(row.error());
  }
  m.id = s.int_at(0);
  s.reset();
  return m;
}

std::vector<MailboxRecord> Index::mailboxes_between(const std::string& from,
                                                    const std::string& to) {
  auto& s = st_->mailboxes_between;
  s.bind(1, from).bind(2, to);
  return all_rows(s, read_mailbox);
}

std::vector<MailboxRecord> Index::mailboxes_below(const std::string& name) {
  // "name" itself, then "name." up to "name/" ('/' follows '.').
  std::vector<MailboxRecord> out;
  if (auto self = find_mailbox(name)) out.push_back(std::move(*self));
  for (auto& m : mailboxes_between(name + ".", name + "/")) out.push_back(std::move(m));
  return out;
}

std::optional<Error> Index::set_acl(int64_t id, const std::string& acl) {
  return st_->set_acl.bind(1, acl).bind(2, id).run();
}

std::optional<Error> Index::rename_mailbox(int64_t id, const std::string& name,
                                           const std::string& dir) {
  return st_->rename_mailbox.bind(1, name).bind(2, dir).bind(3, id).run();
}

std::optional<Error> Index::set_location(int64_t id, const std::string& partition,
                                        const std::string& dir, const std::string& format) {
  Statement s(*db_,
              "UPDATE mailboxes SET partition = ?, dir = ?, format = ?, converting = 0 WHERE id = ?");
  return s.bind(1, partition).bind(2, dir).bind(3, format).bind(4, id).run();
}

std::optional<Error> Index::set_converting(int64_t id, bool converting) {
  Statement s(*db_, "UPDATE mailboxes SET converting = ? WHERE id = ?");
  return s.bind(1, int64_t{converting}).bind(2, id).run();
}

std::optional<Error> Index::set_message_file(int64_t mailbox, int64_t uid, const std::string& file) {
  Statement durable(*db_, "UPDATE messages SET file = ? WHERE mailbox = ? AND uid = ?");
  if (auto e = durable.bind(1, file).bind(2, mailbox).bind(3, uid).run()) return e;
  if (db_->changes() > 0) return std::nullopt;
  // Still a pending delivery: it becomes a durable row under its new name.
  Statement move(*db_,
                 "INSERT INTO messages(mailbox, uid, guid, size, internaldate, stage, pending, file) "
                 "SELECT mailbox, uid, guid, size, internaldate, stage, 0, ?3 FROM deliveries "
                 "WHERE mailbox = ?1 AND uid = ?2");
  if (auto e = move.bind(1, mailbox).bind(2, uid).bind(3, file).run()) return e;
  return st_->delete_pending.bind(1, mailbox).bind(2, uid).run();
}

std::optional<Error> Index::delete_mailbox(int64_t id) {
  // The rows go by ON DELETE CASCADE; the flags of its pending ones (no trigger on deliveries)
  // here, since a mailbox id can be reused.
  Statement flags(*db_, "DELETE FROM message_flags WHERE mailbox = ?");
  if (auto e = flags.bind(1, id).run()) return e;
  return st_->delete_mailbox.bind(1, id).run();
}

Result<std::optional<int64_t>, Error> Index::allocate_uid(int64_t mailbox) {
  auto& s = st_->allocate_uid;
  s.bind(1, mailbox);
  auto row = s.step();
  if (!row.ok()) return fail(row.error());
  std::optional<int64_t> uid;
  if (row.value()) uid = s.int_at(0);
  s.reset();
  return uid;
}

std::optional<Error> Index::raise_uidnext(int64_t mailbox, int64_t uid) {
  return st_->raise_uidnext.bind(1, uid + 1).bind(2, mailbox).run();
}

std::optional<Error> Index::insert_message(const MessageRecord& m) {
  auto& s = m.pending ? st_->insert_delivery : st_->insert_message;
  s.bind(1, m.mailbox).bind(2, m.uid).bind(3, m.guid).bind(4, m.size).bind(5, m.internaldate);
  s.bind(6, m.stage).bind(7, m.file);
  return s.run();
}

std::optional<Error> Index::set_flags(int64_t mailbox, int64_t uid,
                                     const std::vector<std::string>& flags) {
  std::string joined;
  for (const auto& f : flags) {
    if (f.empty()) continue;
    if (!joined.empty()) joined += ' ';
    joined += f;
  }
  Statement s(*db_, "INSERT OR REPLACE INTO message_flags(mailbox, uid, flags) VALUES(?, ?, ?)");
  return s.bind(1, mailbox).bind(2, uid).bind(3, joined).run();
}

std::vector<std::string> Index::flags_of(int64_t mailbox, int64_t uid) {
  Statement s(*db_, "SELECT flags FROM message_flags WHERE mailbox = ? AND uid = ?");
  s.bind(1, mailbox).bind(2, uid);
  std::vector<std::string> out;
  auto row = s.step();
  if (!row.ok() || !row.value()) return out;
  const std::string joined = s.text_at(0);
  size_t pos = 0;
  while (pos < joined.size()) {
    size_t end = joined.find(' ', pos);
    if (end == std::string::npos) end = joined.size();
    if (end > pos) out.push_back(joined.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::optional<Error> Index::delete_message(int64_t mailbox, int64_t uid) {
  if (auto e = st_->delete_message.bind(1, mailbox).bind(2, uid).run()) return e;
  if (db_->changes() > 0) return std::nullopt;
  if (auto e = st_->delete_pending.bind(1, mailbox).bind(2, uid).run()) return e;
  if (db_->changes() == 0) return std::nullopt;
  return st_->delete_flags.bind(1, mailbox).bind(2, uid).run();
}

Result<bool, Error> Index::delete_delivery(const std::string& stage, int64_t mailbox, int64_t uid) {
  if (auto e = st_->delete_delivery.bind(1, stage).bind(2, mailbox).bind(3, uid).run()) {
    return fail(*e);
  }
  if (db_->changes() == 0) return false;
  if (auto e = st_->delete_flags.bind(1, mailbox).bind(2, uid).run()) return fail(*e);
  return true;
}

std::optional<Error> Index::clear_stage(const std::string& partition, const std::string& name) {
  return clear_stages({{partition, name}});
}

std::optional<Error> Index::clear_stages(
    const std::vector<std::pair<std::string, std::string>>& stages) {
  if (stages.empty()) return std::nullopt;
  // The stages go into a table of this connection's own, so that two statements move all their
  // rows: sorted by key, the inserts walk `messages` once instead of once per stage (2.9 against
  // 5.0 us a row for a checkpoint of 100 stage files of 100 rows each). A row's partition comes
  // from its mailbox: the same stage name can be on two partitions. CROSS JOIN keeps SQLite's
  // join order (the stages, then their rows through deliveries_stage): left to itself, with no
  // statistics, it scans all of `deliveries`, other workers' pending rows included.
  if (auto e = db_->exec("CREATE TEMP TABLE IF NOT EXISTS checkpoint_stages(stage TEXT NOT NULL, "
                         "partition TEXT NOT NULL, PRIMARY KEY(stage, partition)) WITHOUT ROWID")) {
    return e;
  }
  static constexpr const char* kRows =
      " FROM temp.checkpoint_stages c CROSS JOIN deliveries d ON d.stage = c.stage "
      "CROSS JOIN mailboxes b ON b.id = d.mailbox AND b.partition = c.partition";
  Statement add(*db_, "INSERT OR IGNORE INTO temp.checkpoint_stages(stage, partition) VALUES(?, ?)");
  const std::string move_sql = std::string(
                                   "INSERT INTO messages(mailbox, uid, guid, size, internaldate, "
                                   "stage, pending, file) SELECT d.mailbox, d.uid, d.guid, d.size, "
                                   "d.internaldate, d.stage, 0, d.file") +
                               kRows + " ORDER BY d.mailbox, d.uid";
  const std::string forget_sql =
      std::string("DELETE FROM deliveries WHERE rowid IN (SELECT d.rowid") + kRows + ")";
  Statement move(*db_, move_sql.c_str());
  Statement forget(*db_, forget_sql.c_str());
  std::optional<Error> e;
  for (size_t i = 0; !e && i < stages.size(); ++i) {
    e = add.bind(1, stages[i].second).bind(2, stages[i].first).run();
  }
  if (!e) e = move.run();
  if (!e) e = forget.run();
  // Emptied whatever happened: the next call must not see these stages.
  if (auto cleared = db_->exec("DELETE FROM temp.checkpoint_stages"); cleared && !e) e = cleared;
  return e;
}

std::vector<MessageRecord> Index::messages(int64_t mailbox) {
  auto& s = st_->messages;
  s.bind(1, mailbox);
  return all_rows(s, read_message);
}

std::optional<MessageRecord> Index::message(int64_t mailbox, int64_t uid) {
  auto& s = st_->message;
  s.bind(1, mailbox).bind(2, uid);
  return first_row(s, read_message);
}

std::vector<Index::StagedRow> Index::staged_rows() {
  auto& s = st_->staged_rows;
  return all_rows(s, [](const Statement& r) { return StagedRow{read_message(r), r.text_at(8)}; });
}

}  // namespace cubby::store
