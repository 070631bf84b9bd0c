// The Environment a script gets at delivery and in `cubbyctl sieve test` (so that a test evaluates
// exactly as delivery would): the user's mailboxes from the index, includes from the sievedir, and
// the vacation/duplicate history (SieveHistory: {configdirectory}/sieve-history.sqlite; none for a
// test, which starts with an empty history). Mailbox names in scripts use '/' as the separator,
// relative to the user's INBOX ("INBOX" itself, "INBOX/x" and "x" are the same folder x).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "sieve/sieve.h"
#include "sievedir/script_store.h"
#include "store/mailbox_name.h"
#include "store/sqlite.h"
#include "store/store.h"

namespace cubby::sievedir {

// The persistent history RFC 5230 and RFC 7352 need: key -> time it was marked. Opened lazily;
// an unusable database is logged once and then answers "never seen".
class SieveHistory {
 public:
  explicit SieveHistory(std::string path) : path_(std::move(path)) {}
  bool seen(const std::string& key, std::chrono::seconds period);
  void mark(const std::string& key);

 private:
  store::Db* db();
  std::string path_;
  std::optional<store::Db> db_;
  bool failed_ = false;
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
