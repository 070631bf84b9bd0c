// Power-cut simulation (issue 8, docs/reliability.md), after LevelDB's fault_injection_test: the
// server runs under libcubby_fault.so in journal mode, which writes ahead every change under the
// index directory and the spool (file data, names created, removed and renamed) and marks what an
// fsync/fdatasync of the file or of its directory made durable. At a seeded random moment under
// load every process is SIGKILLed; the store is then rolled back to its last durable state (file
// data not synced is restored byte for byte and truncated, directory entries not synced are
// undone; SQLite's database and WAL are modelled like any file, its -shm dropped); the server
// starts again, its workers run recovery, and run_power_cuts() checks, for each user's INBOX
// (tests/e2e/inbox_files.h, on a Cyrus or a Maildir++ partition):
//   every message acknowledged with 250 is present, byte-exact, its GUID the XXH3 of the file;
//   every visible message was sent to that user, once, and is whole (nothing partial); nothing
//   refused with a 4xx/5xx reply is there; those without a 250 (committed, reply lost) are counted;
//   no UID ever shows a different message (never reused); `cubbyctl check` passes;
//   every mailbox takes a new delivery at once.
// Used by tests/e2e/power_cut_test.cc (both formats) and by
// tests/interop/dovecot/power_cut_dovecot_test.cc, whose hook has Dovecot open every mailbox
// after every cut.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/e2e/inbox_files.h"
#include "tests/e2e/instance.h"

namespace cubby::e2e {

struct RollbackCounts {
  size_t records = 0, undone_writes = 0, undone_entries = 0;
};

// Rolls the files under `roots` back to their last durable state using the journal in `jdir`
// (no process of the journaled instance may be running), then empties `jdir`.
// CUBBY_POWER_CUT_DROP=S (or D) pretends file (or directory) syncs never happened: the harness's
// self-test, which must then find losses.
RollbackCounts roll_back(const std::string& jdir, const std::vector<std::string>& roots);

// What the load sent, by Message-ID (without <>).
struct SentMessage {
  std::string content;
  std::set<std::string> targets;  // users it was sent to
  std::set<std::string> acked;    // users whose 250 arrived
  std::set<std::string> refused;  // users whose 4xx/5xx arrived
};
using SentMessages = std::map<std::string, SentMessage>;

constexpr const char* kPowerCutSender = "sender@example.org";  // the envelope sender of the load

struct PowerCutOptions {
  PartitionFormat format = PartitionFormat::kCyrus;
  std::vector<std::string> users;  // their INBOXes exist; each message goes to some of them
  int seconds = 120;               // the run ends after this time or `cuts` cut points
  int cuts = 200;
  unsigned seed = 1;      // picks the cut points and the recipients
  std::string fault_lib;  // libcubby_fault.so
  // Called after every recovery has been verified (and once more at the end), before the probe
  // delivery, with the instance idle and settled: `on_disk` is the number of message files in each
  // user's INBOX. Report problems as GoogleTest failures.
  std::function<void(const std::string& when, const SentMessages& sent,
                     const std::map<std::string, size_t>& on_disk)>
      after_recovery;
};

struct PowerCutCounts {
  int cuts = 0;
  size_t sent = 0;
  size_t checked = 0;       // acknowledged deliveries checked, cumulative over the cuts
  size_t missing = 0;       // of those, not found: must stay 0
  size_t lost_replies = 0;  // committed deliveries whose 250 was lost in a cut
  size_t files = 0;         // message files in the INBOXes at the end
  RollbackCounts rollback;
  std::chrono::steady_clock::duration start{}, verify{}, load{}, roll{};
  // The "[ power cut ] ..." lines the tests print.
  std::string summary(const std::string& label, unsigned seed) const;
};

// Runs the cuts on `cubby`, whose files are under `root` (lib/ and spool/, as CubbyTest makes
// them), whose mailboxes exist and which is stopped. Journals under <root>/journal. Failures are
// GoogleTest failures: call it inside ASSERT_NO_FATAL_FAILURE. Leaves the instance running.
void run_power_cuts(CubbyInstance& cubby, const std::string& root, const PowerCutOptions& options,
                    PowerCutCounts* counts);

}  // namespace cubby::e2e
