// Sieve at delivery (docs/sieve.md "At delivery"): for each accepted recipient whose user has an
// active script, the script runs over the stage file's bytes before the commit, and its actions
// become the recipient's delivery targets: `keep` and every `fileinto` are targets of the one
// transaction (each a hard link of the one stage file, with its flags), `discard` none, `reject`
// and `ereject` none and a `550 5.7.1` reply. `redirect` and `vacation` are mail sent, after the
// commit, through the `sendmail` program, only for a recipient whose delivery succeeded (or was
// discarded). Sending never holds up the replies: each message is an asynchronous sendmail child
// of the worker's event loop (outbox.h: bounded in number, each with a timeout); a failed send is
// logged and the delivery stands; a sent one's history (vacation, redirect) is recorded when
// sendmail has exited 0. Failure is never loss: a script that cannot be read, does not compile or fails at
// run time gives the implicit keep; the reason is logged once per version of the script file.
//
// Loop protection: every redirected message gets an `X-Cubby-Loop: <recipient>` header; a message
// arriving for a recipient with its own X-Cubby-Loop line already in it is not redirected again
// (the redirect becomes a keep). A redirect of one Message-ID to one address is done once per
// user (remembered with the vacation history). Used on the worker's event-loop thread.
//
// One evaluation per message where the recipient cannot matter: a script that reads nothing of
// the recipient (sieve::Script::recipient_independent: no envelope "to", vacation, duplicate,
// mailboxexists or include) is evaluated once per message for all the recipients whose active
// script has the same source (keyed on the XXH3-128 of the source and MAIL FROM, kept in the
// SieveMessage), and its actions are reused. What does depend on the recipient is still done per
// recipient, after: the fileinto target in the user's mailboxes (`:create`, the fallback to the
// INBOX), the loop check and the redirect history, the log of a failure (once per script file).
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/settings.h"
#include "server/lmtpd/outbox.h"
#include "server/lmtp/backend.h"
#include "sieve/message.h"
#include "sieve/sieve.h"
#include "sievedir/environment.h"
#include "sievedir/script_cache.h"
#include "sievedir/script_store.h"
#include "store/delivery.h"
#include "store/store.h"

namespace cubby::server {

struct SieveRules {
  std::string sievedir;  // empty: Sieve is off
  std::string sendmail;
  std::string history_path;  // the vacation/redirect/duplicate history (SQLite)
  sieve::Limits limits;
  Outbox::Limits outbox;  // sieve_sendmail_max_children, sieve_sendmail_timeout
  static SieveRules from(const conf::Settings& settings, const std::string& config_directory);
};

// A message to hand to sendmail after the delivery.
struct Sendout {
  OutgoingMail mail;
  std::string history_key;  // recorded once sent ("" = none)
  std::chrono::seconds period{0};
};

// What one recipient's script decided.
struct RecipientPlan {
  std::vector<store::DeliveryTarget> targets;  // what to store (empty: discard or reject)
  std::optional<lmtp::Reply> reply;            // reject/ereject: the recipient's reply
  std::vector<Sendout> sendouts;               // redirect and vacation
  // Duplicate marks (key, period) to record on success.
  std::vector<std::pair<std::string, std::chrono::seconds>> history_keys;
  std::string action;  // for the log: no-sieve, keep, fileinto, discard, reject, ...
};

// One message as the scripts of all its recipients read it: the stage file's bytes, their header
// parsed once (sieve/message.h) and lower-cased once for the loop check, however many recipients
// have a script. Views its own bytes, so it is neither copied nor moved (std::optional::emplace).
class SieveMessage {
 public:
  explicit SieveMessage(std::string bytes);
  SieveMessage(const SieveMessage&) = delete;
  SieveMessage& operator=(const SieveMessage&) = delete;

  const std::string& bytes() const { return bytes_; }
  const sieve::Message& parsed() const { return parsed_; }
  // Whether the header already holds `X-Cubby-Loop: <rcpt>` (any case): the message was here.
  bool has_loop_mark(const std::string& rcpt) const;

  // The Outcome a recipient-independent script with the source hash `source` gave for this
  // message from `from` (null: not evaluated yet), and the place to keep one.
  struct SharedKey {
    std::pair<uint64_t, uint64_t> source;
    std::string from;
    auto operator<=>(const SharedKey&) const = default;
  };
  const sieve::Outcome* shared_outcome(const SharedKey& key) const;
  const sieve::Outcome& share_outcome(SharedKey key, sieve::Outcome outcome);

 private:
  std::map<SharedKey, sieve::Outcome> shared_;
  std::string bytes_;
  sieve::Message parsed_;     // views bytes_
  std::string lower_header_;  // the header section, lower-cased
};

class SieveDelivery {
 public:
  // Mail is sent through sendmail children of `io` (none: sends are logged as impossible).
  SieveDelivery(store::Store& store, SieveRules rules, boost::asio::io_context* io = nullptr);
  bool enabled() const { return !rules_.sievedir.empty(); }
  // The active script of the owner of `target` (an internal mailbox name): nullopt when Sieve is
  // off, `target` is not a user's, or the user has none. Reads the file system (the `defaultbc`
  // link and the script's stat), so a delivery resolves it once per recipient per message and
  // hands it to plan().
  std::optional<sievedir::ScriptFile> active_script(const std::string& target);

  // The plan for `target` (the internal mailbox the RCPT check resolved), whose owner's active
  // script active_script() found as `script`. `message` is the stored message (it keeps the
  // outcomes of recipient-independent scripts for the next recipients); `rcpt` the RCPT address;
  // `from` MAIL FROM.
  RecipientPlan plan(const std::string& target, const std::optional<sievedir::ScriptFile>& script,
                     bool ignore_quota, const std::string& rcpt, const std::string& from,
                     SieveMessage& message, const std::string& message_id);
  // After the commit: records the plan's duplicate marks and starts sending its mail (the history
  // of each message is recorded once sendmail has taken it). Returns at once.
  void finish(const RecipientPlan& plan);

  sievedir::ScriptCache& cache() { return cache_; }
  // Scripts evaluated so far (a shared evaluation counts once): for tests.
  size_t evaluations() const { return evaluations_; }
  // Active scripts resolved so far (active_script calls): for tests.
  size_t resolutions() const { return resolutions_; }
  sievedir::SieveHistory& history() { return history_; }
  Outbox* outbox() { return outbox_.get(); }

 private:
  store::Store& store_;
  SieveRules rules_;
  sievedir::ScriptStore scripts_;
  sievedir::ScriptCache cache_;
  sievedir::SieveHistory history_;
  size_t evaluations_ = 0;
  size_t resolutions_ = 0;
  std::unique_ptr<Outbox> outbox_;  // last: its children are killed before the history goes
};

}  // namespace cubby::server
