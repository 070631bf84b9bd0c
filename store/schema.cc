// The index schema and its migrations; see schema.h.
#include "store/schema.h"

#include <string>

namespace cubby::store {
namespace {

// Version 1: the first schema. Kept as it was, so that a fresh index goes through the same steps
// as an old one.
constexpr const char* kVersion1 = R"sql(
CREATE TABLE IF NOT EXISTS mailboxes(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  uniqueid TEXT NOT NULL UNIQUE,
  partition TEXT NOT NULL,
  dir TEXT NOT NULL,
  uidvalidity INTEGER NOT NULL,
  uidnext INTEGER NOT NULL DEFAULT 1,
  created INTEGER NOT NULL,
  acl TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS messages(
  mailbox INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  uid INTEGER NOT NULL,
  guid TEXT NOT NULL,
  size INTEGER NOT NULL,
  internaldate INTEGER NOT NULL,
  stage TEXT NOT NULL,
  pending INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY(mailbox, uid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_pending ON messages(stage) WHERE pending = 1;
CREATE INDEX IF NOT EXISTS messages_guid ON messages(guid);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
)sql";

// Each step takes the index from version i+1 to i+2 (kSteps[0] makes version 2).
constexpr const char* kSteps[] = {
    // 2: quota roots and duplicate-suppression marks.
    R"sql(
CREATE TABLE quotaroots(
  name TEXT PRIMARY KEY,
  storage_limit INTEGER,
  message_limit INTEGER,
  storage_used INTEGER NOT NULL DEFAULT 0,
  message_used INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE duplicates(
  message INTEGER NOT NULL,
  key INTEGER NOT NULL,
  mark INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  PRIMARY KEY(message, key)
) WITHOUT ROWID;
)sql",
    // 3: no index on messages(guid): no query reads by GUID, and every delivery paid for it.
    R"sql(
DROP INDEX IF EXISTS messages_guid;
)sql",
    // 4: the Maildir file name of a message on a Maildir partition ("" on a Cyrus one).
    R"sql(
ALTER TABLE messages ADD COLUMN file TEXT NOT NULL DEFAULT '';
)sql",
    // 5: IMAP flags a Sieve script set on a delivery (imap4flags), one row per flagged message;
    // a message without flags has no row. The row goes with its message (a mailbox id can be
    // reused after the highest one is deleted).
    R"sql(
CREATE TABLE message_flags(
  mailbox INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  flags TEXT NOT NULL,
  PRIMARY KEY(mailbox, uid)
) WITHOUT ROWID;
CREATE TRIGGER message_flags_follow AFTER DELETE ON messages BEGIN
  DELETE FROM message_flags WHERE mailbox = OLD.mailbox AND uid = OLD.uid;
END;
)sql",
    // 6: a mailbox's own format once `cubbyctl convert` has moved it ("" follows its partition's
    // configured format; "cyrus" or "maildir"), and the mark that keeps deliveries out of a
    // mailbox while it is being converted (store/convert.h).
    R"sql(
ALTER TABLE mailboxes ADD COLUMN format TEXT NOT NULL DEFAULT '';
ALTER TABLE mailboxes ADD COLUMN converting INTEGER NOT NULL DEFAULT 0;
)sql",
    // 7: the catalog generation, meta(key 'catalog_generation'): triggers raise it in the
    // transaction that creates, deletes, renames or moves a mailbox, changes its ACL, format or
    // converting mark, or creates, removes or changes the limits of a quota root; deliveries
    // (uidnext, usage) leave it alone. A worker's RCPT cache (mailbox_cache.h) is valid while it
    // stays the same, whichever process or connection made the change.
    R"sql(
INSERT OR IGNORE INTO meta(key, value) VALUES('catalog_generation', 0);
CREATE TRIGGER catalog_mailbox_insert AFTER INSERT ON mailboxes BEGIN
  UPDATE meta SET value = value + 1 WHERE key = 'catalog_generation';
END;
CREATE TRIGGER catalog_mailbox_delete AFTER DELETE ON mailboxes BEGIN
  UPDATE meta SET value = value + 1 WHERE key = 'catalog_generation';
END;
CREATE TRIGGER catalog_mailbox_update
AFTER UPDATE OF id, name, uniqueid, partition, dir, uidvalidity, acl, format, converting
ON mailboxes BEGIN
  UPDATE meta SET value = value + 1 WHERE key = 'catalog_generation';
END;
CREATE TRIGGER catalog_quota_insert AFTER INSERT ON quotaroots BEGIN
  UPDATE meta SET value = value + 1 WHERE key = 'catalog_generation';
END;
CREATE TRIGGER catalog_quota_delete AFTER DELETE ON quotaroots BEGIN
  UPDATE meta SET value = value + 1 WHERE key = 'catalog_generation';
END;
CREATE TRIGGER catalog_quota_update AFTER UPDATE OF name, storage_limit, message_limit
ON quotaroots BEGIN
  UPDATE meta SET value = value + 1 WHERE key = 'catalog_generation';
END;
)sql",
    // 8: the Message-ID and Date of each committed message whose stage file is still around, by
    // stage file name (store/stage_marks.h): recovery takes back a committed delivery whose stage
    // file never reached the disk, duplicate mark included, and needs them to find the mark.
    R"sql(
CREATE TABLE stage_marks(
  stage TEXT PRIMARY KEY,
  message_id TEXT NOT NULL,
  date TEXT NOT NULL
) WITHOUT ROWID;
)sql",
    // 9: committed deliveries whose file may not be durable yet, in commit order (index.h). They
    // were rows of `messages` with pending = 1; there every delivery dirtied a leaf page of the
    // (mailbox, uid) B-tree, one page per recipient of a group, and the COMMIT wrote them all to
    // the WAL (100 pages for a message to 100 users). Appended here, a group dirties the last
    // page or two; a checkpoint moves them into `messages` in bulk, in key order. Index deletes
    // the flags of a pending delivery it takes back itself (a trigger here would also fire for
    // every row a checkpoint moves, and cost each a probe of `messages`).
    R"sql(
CREATE TABLE deliveries(
  mailbox INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  uid INTEGER NOT NULL,
  guid TEXT NOT NULL,
  size INTEGER NOT NULL,
  internaldate INTEGER NOT NULL,
  stage TEXT NOT NULL,
  file TEXT NOT NULL DEFAULT ''
);
CREATE INDEX deliveries_stage ON deliveries(stage);
DROP TRIGGER message_flags_follow;
INSERT INTO deliveries(mailbox, uid, guid, size, internaldate, stage, file)
  SELECT mailbox, uid, guid, size, internaldate, stage, file FROM messages WHERE pending = 1;
DELETE FROM messages WHERE pending = 1;
DROP INDEX IF EXISTS messages_pending;
CREATE TRIGGER message_flags_follow AFTER DELETE ON messages BEGIN
  DELETE FROM message_flags WHERE mailbox = OLD.mailbox AND uid = OLD.uid;
END;
)sql",
};

constexpr int kCurrent = 1 + static_cast<int>(sizeof kSteps / sizeof kSteps[0]);

}  // namespace

int current_schema_version() { return kCurrent; }

Result<int, Error> schema_version(Db& db) {
  Statement s(db, "SELECT value FROM meta WHERE key = 'schema_version'");
  auto row = s.step();
  if (!row.ok()) return fail(row.error());
  const int version = row.value() ? static_cast<int>(s.int_at(0)) : 1;
  s.reset();
  return version;
}

std::optional<Error> migrate(Db& db) {
  if (auto e = db.exec(kVersion1)) return e;
  for (;;) {
    auto before = schema_version(db);
    if (!before.ok()) return before.error();
    if (before.value() == kCurrent) return std::nullopt;
    if (before.value() > kCurrent) {
      return Error{Errc::kCorrupt, "the index is schema version " + std::to_string(before.value()) +
                                       ", newer than this program's " + std::to_string(kCurrent) +
                                       ": run a newer Cubby"};
    }
    auto txn = Transaction::begin(db);
    if (!txn.ok()) return txn.error();
    auto version = schema_version(db);  // another process may have moved it meanwhile
    if (!version.ok()) return version.error();
    if (version.value() != before.value()) continue;  // rolled back; look again
    if (auto e = db.exec(kSteps[version.value() - 1])) return e;
    Statement set(db, "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?)");
    if (auto e = set.bind(1, int64_t{version.value() + 1}).run()) return e;
    if (auto e = txn->commit()) return e;
  }
}

}  // namespace cubby::store
