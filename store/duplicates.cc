// Duplicate-suppression marks in the index; see duplicates.h.
#include "store/duplicates.h"

#include <xxhash.h>

#include <string>

namespace cubby::store {

DuplicateKey DuplicateKey::of(std::string_view message_id, std::string_view uniqueid,
                              std::string_view date) {
  std::string message;
  message.reserve(message_id.size() + date.size() + 2);
  message.append(message_id).push_back('\0');
  message.append(date).push_back('\0');
  std::string key;
  key.reserve(message.size() + uniqueid.size() + 1);
  key.append(message_id).push_back('\0');
  key.append(uniqueid).push_back('\0');
  key.append(date).push_back('\0');
  return DuplicateKey{static_cast<int64_t>(XXH3_64bits(message.data(), message.size())),
                      static_cast<int64_t>(XXH3_64bits(key.data(), key.size()))};
}

struct DuplicateMarks::Statements {
  explicit Statements(Db& d)
      : db(d),
        find(db, "SELECT uid FROM duplicates WHERE message = ? AND key = ?"),
        mark(db,
             "INSERT OR REPLACE INTO duplicates(message, key, mark, uid) VALUES(?, ?, ?, ?)"),
        unmark(db, "DELETE FROM duplicates WHERE message = ? AND key = ?"),
        prune(db, "DELETE FROM duplicates WHERE mark <= ?"),
        count(db, "SELECT COUNT(*) FROM duplicates") {}
  Db& db;
  Statement find, mark, unmark, prune, count;
};

DuplicateMarks::DuplicateMarks(Db& db) : st_(std::make_unique<Statements>(db)) {}
DuplicateMarks::DuplicateMarks(DuplicateMarks&&) noexcept = default;
DuplicateMarks::~DuplicateMarks() = default;

Result<std::optional<int64_t>, Error> DuplicateMarks::find(const DuplicateKey& key) {
  auto& s = st_->find;
  s.bind(1, key.message).bind(2, key.key);
  auto row = s.step();
  if (!row.ok()) return fail(row.error());
  std::optional<int64_t> uid;
  if (row.value()) uid = s.int_at(0);
  s.reset();
  return uid;
}

std::optional<Error> DuplicateMarks::mark(const DuplicateKey& key, int64_t uid, int64_t when) {
  return st_->mark.bind(1, key.message).bind(2, key.key).bind(3, when).bind(4, uid).run();
}

std::optional<Error> DuplicateMarks::unmark(const DuplicateKey& key) {
  return st_->unmark.bind(1, key.message).bind(2, key.key).run();
}

Result<int64_t, Error> DuplicateMarks::prune(int64_t before) {
  if (auto e = st_->prune.bind(1, before).run()) return fail(*e);
  return st_->db.changes();
}

Result<int64_t, Error> DuplicateMarks::count() {
  auto row = st_->count.step();
  if (!row.ok()) return fail(row.error());
  const int64_t n = st_->count.int_at(0);
  st_->count.reset();
  return n;
}

}  // namespace cubby::store
