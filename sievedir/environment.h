// The Environment a script gets at delivery and in `cubbyctl sieve test` (so that a test evaluates
// exactly as delivery would): the user's mailboxes from the index, includes from the sievedir, and
// the vacation/duplicate history (SieveHistory: {configdirectory}/sieve-history.sqlite; none for a
// test, which starts with an empty history). Mailbox names in scripts use '/' as the separator,
// relative to the user's INBOX ("INBOX" itself, "INBOX/x" and "x" are the same folder x).
#pragma once

#include <chrono>
#include <ctime>
#include <functional>
#include <optional>
#include <string>

#include "sieve/sieve.h"
#include "sievedir/script_store.h"
#include "store/mailbox_name.h"
#include "store/sqlite.h"
#include "store/store.h"

namespace cubby::sievedir {

// The persistent history RFC 5230 and RFC 7352 need: key -> when it was marked and until when it
// matters (mark + period). Opened lazily; an unusable database is logged once and then answers
// "never seen".
//
// Pruned so that it cannot grow without end: a mark whose period is over, a mark older than
// `max_age` whatever its period (and an old row without a period: one from before periods were
// kept), and beyond `max_entries` the oldest marks, are deleted. prune() runs when the history is
// opened and then, from seen() and mark(), at most once per `prune_interval`; it is one
// transaction of indexed deletes, so a worker pays for it a few times an hour, not per message.
class SieveHistory {
 public:
  struct Bounds {
    std::chrono::seconds max_age{std::chrono::hours(24 * 365)};
    size_t max_entries = 1'000'000;
    std::chrono::seconds prune_interval{std::chrono::minutes(10)};
    std::function<std::time_t()> clock;  // the time in seconds (empty: time(nullptr))
  };
  explicit SieveHistory(std::string path);
  SieveHistory(std::string path, Bounds bounds);
  bool seen(const std::string& key, std::chrono::seconds period);
  // Marks `key` now, to be kept at least `period`.
  void mark(const std::string& key, std::chrono::seconds period);
  // Removes the mark of `key` (a send that failed after it was marked).
  void forget(const std::string& key);
  // Deletes what the rules above say may go; returns how many marks went (0 when unusable).
  size_t prune();
  size_t size();

 private:
  store::Db* db();
  std::time_t now() const { return bounds_.clock ? bounds_.clock() : std::time(nullptr); }
  void maybe_prune();
  std::string path_;
  Bounds bounds_;
  std::optional<store::Db> db_;
  bool failed_ = false;
  std::time_t last_prune_ = 0;
};

// The internal mailbox name of a script's '/'-separated mailbox for the owner of `inbox`.
std::optional<std::string> sieve_mailbox(const store::MailboxName& inbox, const std::string& name);

class StoreEnvironment : public sieve::Environment {
 public:
  // `history` may be null: an empty history that remembers nothing.
  StoreEnvironment(store::Store& store, store::MailboxName inbox, const ScriptStore& scripts,
                   SieveHistory* history);
  const std::string& user() const { return user_; }

  bool mailbox_exists(std::string_view mailbox) override;
  bool duplicate_seen(std::string_view key, std::chrono::seconds period) override;
  bool vacation_sent(std::string_view address, std::string_view handle,
                     std::chrono::seconds period) override;
  std::optional<std::string> script_source(std::string_view name,
                                           sieve::ScriptLocation where) override;
  std::chrono::system_clock::time_point now() override { return std::chrono::system_clock::now(); }

  static std::string vacation_key(const std::string& user, std::string_view address,
                                  std::string_view handle);
  static std::string duplicate_key(const std::string& user, std::string_view key);

 private:
  store::Store& store_;
  store::MailboxName inbox_;
  std::string user_;
  const ScriptStore& scripts_;
  SieveHistory* history_;
};

}  // namespace cubby::sievedir
