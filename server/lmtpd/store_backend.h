// StoreBackend: the LMTP engine's Backend over the mail store: the RCPT-time checks a Cyrus
// administrator expects, the hand-off of a finished message to the committer, and the replies.
//
// check_recipient() (Cyrus's verify_user in imap/lmtpd.c), on the worker's event-loop thread and
// its own index connection, through a MailboxCache (store/mailbox_cache.h) that remembers the
// mailboxes and quota roots looked up while the index's catalog generation stays the same (each
// RCPT reads the generation first, so a change cubbyctl committed is seen by the next RCPT):
//   1. the address is mapped to a mailbox (store/recipient.h); an unusable address gets Cyrus's
//      three-line `550 5.1.1 User unknown`;
//   2. a user address needs its INBOX; a missing one is created when autocreate_post is on and
//      autocreate_quota >= 0 (with that STORAGE quota in KiB and autocreate_quota_messages as
//      MESSAGE quota, when above 0). A shared address needs its mailbox (or, with
//      lmtp_fuzzy_mailbox_match, a fuzzy match: store/fuzzy_match.h) and the `p` right for the MAIL
//      AUTH= identity or anyone: without it `550 5.7.1 Permission denied` (Cyrus's five lines) when
//      `l` is granted, else 550 5.1.1;
//   3. unless IGNOREQUOTA, the quota root of that INBOX or shared mailbox must not break
//      used + delta > limit (delta 0, or SIZE= and 1 with lmtp_strict_quota), else
//      `452 4.2.2 Over quota SESSIONID=<sid>` (`552 5.2.2` with lmtp_over_quota_perm_failure);
//   4. when any of this fails and lmtp_catchall_mailbox names a user, that user's INBOX is checked
//      the same way and used instead; its failure is the one reported;
//   5. the accepted recipient's target is its +detail folder when one exists (exactly, else by
//      fuzzy match), else the INBOX or shared mailbox. The folder's rights and quota are checked at
//      delivery, which falls back to the INBOX (store/delivery.h).
// open_message() opens a stage file on the partition of the first recipient's mailbox.
// batch() builds the store's DeliveryBatch; under lmtp_user_concurrency_limit it takes one
// delivery slot per user (store/delivery_slot.h), and the recipients of a user whose slots are all
// taken get `451 4.4.5 Too many concurrent deliveries for this user` without touching the others.
// replies() logs each outcome (Delivered:, dupelim:, or why not) and gives one Reply per recipient:
//   delivered or a suppressed duplicate → `250 2.1.5 Success SESSIONID=<sid>`; no mailbox → the 550
//   5.1.1 above; no right → 550 5.7.1; over quota → 452 4.2.2 / 552 5.2.2; too many concurrent
//   deliveries → 451 4.4.5; ENOSPC/EDQUOT → `451 4.3.1 mail system storage has been exceeded`;
//   else `451 4.3.0 System I/O error`.
// Used on the worker's event-loop thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "conf/settings.h"
#include "server/lmtp/backend.h"
#include "server/lmtpd/sieve_delivery.h"
#include "store/delivery.h"
#include "store/mailbox_cache.h"
#include "store/maildir_delivery.h"
#include "store/recipient.h"
#include "store/store.h"

namespace cubby::server {

// The settings the RCPT checks and the replies follow.
struct RecipientRules {
  store::AddressRules address;
  bool fuzzy_match = false;        // lmtp_fuzzy_mailbox_match
  std::string catchall;            // lmtp_catchall_mailbox
  bool autocreate = false;         // autocreate_post with autocreate_quota >= 0
  int64_t autocreate_storage = 0;  // KiB; 0: none
  int64_t autocreate_messages = 0;
  bool strict_quota = false;          // lmtp_strict_quota
  bool over_quota_permanent = false;  // lmtp_over_quota_perm_failure
  int user_concurrency_limit = 0;     // lmtp_user_concurrency_limit; 0: none
  std::string postmaster = "postmaster";

  static RecipientRules from(const conf::Settings& settings);
};

class StoreBackend : public lmtp::Backend {
 public:
  // `io`: the worker's event loop, which runs Sieve's sendmail children (sieve_delivery.h).
  StoreBackend(store::Store& store, const conf::Settings& settings,
               boost::asio::io_context* io = nullptr)
      : StoreBackend(store, RecipientRules::from(settings),
                     SieveRules::from(settings, store.config().config_directory), io) {}
  // Without `sieve` rules (or with an empty sievedir) no script runs.
  StoreBackend(store::Store& store, RecipientRules rules, SieveRules sieve = {},
               boost::asio::io_context* io = nullptr)
      : store_(store),
        rules_(std::move(rules)),
        sieve_(store, std::move(sieve), io),
        cache_(store.index()) {}

  lmtp::RecipientVerdict check_recipient(const lmtp::RecipientRequest& request) override;
  Result<std::unique_ptr<lmtp::MessageSink>, lmtp::Reply> open_message(
      const std::vector<lmtp::RecipientVerdict>& recipients) override;

  // Moves the stage file out of the request's sink (which must come from open_message()). Runs
  // each recipient's active Sieve script (sieve_delivery.h): a recipient may become several
  // targets (keep + fileinto), or none (discard, reject); the plan is kept for replies() under
  // the session id (a session has one transaction in flight at most).
  store::DeliveryBatch batch(lmtp::DeliveryRequest& request);
  // Logs the outcomes and returns one Reply per recipient: with Sieve, the combination of that
  // recipient's targets (250 when any was stored; a reject's 550 5.7.1), and starts sending its
  // redirects and vacation answers (without waiting for them).
  std::vector<lmtp::Reply> replies(const store::DeliveryResult& result,
                                   const lmtp::MessageInfo& info);

  const RecipientRules& rules() const { return rules_; }
  SieveDelivery& sieve() { return sieve_; }
  const store::MailboxCache& cache() const { return cache_; }

 private:
  // Steps 2 and 3 for one mailbox: nullopt when it may take the message, else the refusal.
  std::optional<store::Error> verify(const store::RecipientMailbox& mapped,
                                     const lmtp::RecipientRequest& request,
                                     std::string* resolved);
  lmtp::Reply reply_for(const store::Error& error, const std::string& session_id) const;
  // One reply per target of the batch (logging each outcome).
  std::vector<lmtp::Reply> target_replies(const store::DeliveryResult& result,
                                          const lmtp::MessageInfo& info);

  // One recipient of a transaction in flight: its plan and its targets' place in the batch.
  struct PlannedRecipient {
    RecipientPlan plan;
    size_t first = 0, count = 0;
  };

  store::Store& store_;
  RecipientRules rules_;
  SieveDelivery sieve_;
  store::MailboxCache cache_;  // the RCPT lookups, valid per catalog generation
  store::MaildirQuotaCache maildir_quotas_;  // RCPT's reads of maildirsize (maildir_delivery.h)
  std::map<std::string, std::vector<PlannedRecipient>> planned_;  // by session id
};

// Cyrus's reply for a recipient with no mailbox.
lmtp::Reply user_unknown_reply();
// Cyrus's reply for a poster without the `p` right; `postmaster` is named in it.
lmtp::Reply permission_denied_reply(const std::string& postmaster);

}  // namespace cubby::server
