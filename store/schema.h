// Schema: the index's tables, and the ordered migrations that bring an index made by an older Cubby
// up to date, so an existing store opens with a newer program.
//
// The version lives in meta(key 'schema_version'). An index made before the meta table existed is
// version 1 (mailboxes and messages only). migrate() applies every step above the stored version
// in order; each step runs in its own BEGIN IMMEDIATE transaction that re-reads the version first,
// so two processes opening the same old index at once apply each step exactly once. An index newer
// than this program is refused (Errc::kCorrupt, saying which versions) instead of being used with
// tables the program does not know.
//
// The tables (version 3; version 3 dropped version 1's unused index messages_guid):
//   mailboxes(id, name, uniqueid, partition, dir, uidvalidity, uidnext, created, acl)
//   messages(mailbox, uid, guid, size, internaldate, stage, pending)
//   quotaroots(name, storage_limit, message_limit, storage_used, message_used)
//   duplicates(message, key, mark, uid)
//   meta(key, value): 'schema_version'; from version 7 'catalog_generation', raised by triggers
//   on every change to a mailbox's name, place, ACL, format or converting mark and to a quota
//   root's existence or limits (schema.cc; read by mailbox_cache.h)
//   stage_marks(stage, message_id, date): from version 8, the Message-ID and Date of each committed
//   message whose stage file is still around (stage_marks.h), for recovery's take-back
// quotaroots: `name` is the internal name of the mailbox the root is set on; limits are NULL when
// there is none (STORAGE in KiB, MESSAGE a count); the used figures are the bytes and messages of
// every mailbox the root covers (quota.h). duplicates: the duplicate-suppression marks
// (duplicates.h); `message` groups the marks of one message so one transaction's marks share
// B-tree pages.
#pragma once

#include <optional>

#include "store/error.h"
#include "store/sqlite.h"

namespace cubby::store {

// The version this program writes.
int current_schema_version();
// Creates a fresh index or upgrades an older one; a no-op when it is current.
[[nodiscard]] std::optional<Error> migrate(Db& db);
// The version recorded in `db` (1 when it has no meta table yet), or an Error.
Result<int, Error> schema_version(Db& db);

}  // namespace cubby::store
