// Growing a store quickly: many mailboxes and many delivered messages made by the store's own code
// (Store::create_mailbox, StageFile, Index, link_message), without LMTP, so that a benchmark can
// measure delivery into a store that already holds what a production store holds (scripts/bench
// --grow, issue 14). Meant for a store no server is delivering into.
//
// grow_store() first creates mailboxes `user/<prefix><n>` until the index holds `mailboxes`
// mailboxes (those already there count and stay; a name that is taken is skipped), many per index
// transaction. Then it adds `messages` deliveries: each message is a distinct ~`size`-byte
// RFC 5322 message (its own Message-ID, so its own GUID) delivered to `recipients` distinct
// mailboxes drawn at random from every mailbox of the partition (the existing ones included), so
// like a real multi-recipient delivery it is one inode hard-linked into each mailbox. The
// deliveries go in batches of `batch` rows, each with one index transaction and one sync for the
// whole batch instead of the delivery protocol's syncs per group (docs/store-protocol.md):
//   1. every message of the batch is written to its own stage file (no fdatasync);
//   2. in one index transaction: the UIDs are allocated and the rows inserted, already durable
//      (pending = 0), with the quota charge and the duplicate mark a delivery makes; each row's
//      <uid>. is made as a hard link to its stage file (link_message, LinkMode::kNew); one
//      syncfs() of the partition's file system makes every file and directory entry durable;
//      then COMMIT;
//   3. the stage files are removed.
// So a row is committed only once its file is durable. A crash before a COMMIT leaves that batch's
// files without rows (strays: `cubbyctl check` names them, `cubbyctl reconstruct` adopts them) and
// its stage files unlocked without rows, which recovery removes. Rows are written durable at once
// rather than pending and then cleared: clear_stage()'s cost per stage file grows with the number
// of mailboxes (its `mailbox IN (SELECT id FROM mailboxes WHERE partition = ?)`), which made the
// fill slow on a big store. At the end the WAL is checkpointed into the index file, so the store
// looks like one that has been running a while, and `cubbyctl check` accepts it.
// Only Cyrus-format partitions; a Maildir partition is refused (kBadName).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "conf/result.h"
#include "store/error.h"
#include "store/store.h"

namespace cubby::tools {

struct GrowthPlan {
  uint64_t mailboxes = 0;    // the index holds at least this many mailboxes afterwards
  uint64_t messages = 0;     // deliveries (index rows, <uid>. links) to add
  uint32_t recipients = 10;  // mailboxes per message (fewer when there are fewer mailboxes)
  uint32_t size = 4096;      // bytes of each message as stored (at least a few hundred)
  uint32_t batch = 20000;    // deliveries per batch (one index transaction, one syncfs)
  uint64_t seed = 1;         // for the choice of recipients and the messages' words
  std::string partition;     // "" = the default partition
  std::string prefix = "g";  // new mailboxes are user/<prefix><n>
};

struct GrowthReport {
  uint64_t mailboxes_created = 0;
  uint64_t mailboxes = 0;  // in the partition's pool at the end
  uint64_t messages = 0;   // deliveries added (rows)
  uint64_t files = 0;      // distinct message files (inodes) added
  uint64_t bytes = 0;      // message bytes written (one per file)
  uint64_t batches = 0;
  double mailbox_seconds = 0;
  double message_seconds = 0;
  double checkpoint_seconds = 0;  // the final WAL checkpoint
};

// Called now and then with the deliveries done so far (for progress lines).
using GrowthProgress = std::function<void(uint64_t done, uint64_t total)>;

Result<GrowthReport, store::Error> grow_store(store::Store& store, const GrowthPlan& plan,
                                              const GrowthProgress& progress = nullptr);

// The text of filler message `n`: headers (Message-ID <fill.<seed>.<n>@bench.localhost>, `date`,
// To: <to@example.com>, Subject) and a body of words in lines of at most 72 characters, CRLF line
// ends, exactly `size` bytes (just the headers when `size` leaves no room for a body line).
std::string growth_message(uint64_t seed, uint64_t n, uint32_t size, const std::string& to,
                           const std::string& date);

}  // namespace cubby::tools
