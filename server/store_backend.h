// StoreBackend: the LMTP engine's Backend over the mail store, and the glue from a finished
// message to the store's committer and back to per-recipient replies.
//
// check_recipient() maps the address to a mailbox (store/recipient.h) and looks it up in the index
// (a +detail folder when it exists, else the INBOX); an unknown mailbox gets Cyrus's three-line
// `550 5.1.1 User unknown`. open_message() opens a stage file on the partition of the first
// recipient's mailbox. batch() turns the engine's DeliveryRequest into a store DeliveryBatch, and
// replies() turns the committer's result into one Reply per recipient:
//   delivered → `250 2.1.5 Success SESSIONID=<sid>`; mailbox gone → the 550 above;
//   ENOSPC/EDQUOT → `451 4.3.1 mail system storage has been exceeded`; else `451 4.3.0 System I/O error`.
// Used on the worker's event-loop thread only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "conf/settings.h"
#include "server/lmtp/backend.h"
#include "store/delivery.h"
#include "store/recipient.h"
#include "store/store.h"

namespace cubby::server {

class StoreBackend : public lmtp::Backend {
 public:
  // Reads the address and delivery rules from `settings`.
  StoreBackend(store::Store& store, const conf::Settings& settings)
      : store_(store), rules_(store::AddressRules::from(settings)) {}

  lmtp::RecipientVerdict check_recipient(const lmtp::RecipientRequest& request) override;
  Result<std::unique_ptr<lmtp::MessageSink>, lmtp::Reply> open_message(
      const std::vector<lmtp::RecipientVerdict>& recipients) override;

  // Moves the stage file out of the request's sink (which must come from open_message()).
  static store::DeliveryBatch batch(lmtp::DeliveryRequest& request);
  static std::vector<lmtp::Reply> replies(const store::DeliveryResult& result,
                                          const std::string& session_id);

 private:
  store::Store& store_;
  store::AddressRules rules_;
};

// Cyrus's reply for a recipient with no mailbox.
lmtp::Reply user_unknown_reply();

}  // namespace cubby::server
