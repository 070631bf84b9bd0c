// Duplicate suppression marks, as Cyrus's deliver.db keeps them: one per message delivered to a
// mailbox, so that an MTA retrying a transaction (or sending the same message again) does not
// store it twice (duplicatesuppression).
//
// The key is Cyrus's: the Message-ID and Date header values as stored (generated ones included)
// and the target mailbox's unique id, which survives renames. It is kept as two XXH3-64 hashes:
// `message` of "<Message-ID> NUL <Date> NUL" (it groups the marks of one message, so the marks a
// multi-recipient transaction adds sit on the same B-tree pages) and `key` of Cyrus's
// "<Message-ID> NUL <uniqueid> NUL <Date> NUL". With the mark go the time of the delivery and the
// UID it got. find() and mark() are meant for the delivery's own transaction (delivery.h), so the
// mark costs no fsync of its own; prune() forgets marks as old as a date or older (cubbyctl duplicates
// prune, Cyrus's cyr_expire -E). One DuplicateMarks per Index connection, same thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "conf/result.h"
#include "store/error.h"
#include "store/sqlite.h"

namespace cubby::store {

struct DuplicateKey {
  int64_t message = 0;
  int64_t key = 0;
  static DuplicateKey of(std::string_view message_id, std::string_view uniqueid,
                         std::string_view date);
};

class DuplicateMarks {
 public:
  explicit DuplicateMarks(Db& db);
  DuplicateMarks(DuplicateMarks&&) noexcept;
  ~DuplicateMarks();

  // The UID the message got when it was delivered, or nullopt when it was not.
  Result<std::optional<int64_t>, Error> find(const DuplicateKey& key);
  [[nodiscard]] std::optional<Error> mark(const DuplicateKey& key, int64_t uid, int64_t when);
  // Forgets one mark (a delivery undone because its file could not be made).
  [[nodiscard]] std::optional<Error> unmark(const DuplicateKey& key);
  // Removes the marks made at or before `before` (unix time); returns how many.
  Result<int64_t, Error> prune(int64_t before);
  Result<int64_t, Error> count();

 private:
  struct Statements;
  std::unique_ptr<Statements> st_;
};

}  // namespace cubby::store
