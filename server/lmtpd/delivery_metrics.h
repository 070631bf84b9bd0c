// What an lmtpd worker counts about its deliveries, into worker_counters() (worker_counters.h):
// recipients the store refuses at RCPT, and for every message handed to the store its outcome per
// recipient (by reply code), its size, the bytes written and saved by hard links, and the time from
// the final dot to the replies (the delivery latency).
//
// A recipient is counted once its fate is known to the store: refused at RCPT (unknown mailbox), or
// given its reply after the message. Refusals the LMTP engine makes by itself (too many recipients,
// a message too large, MAIL without authentication) and recipients of a transaction abandoned
// before its end are not counted. All functions run on the worker's event-loop thread.
#pragma once

#include <string>
#include <vector>

#include "server/lmtpd/store_backend.h"

namespace cubby::server {

// The store backend with RCPT refusals counted.
class CountingStoreBackend : public StoreBackend {
 public:
  using StoreBackend::StoreBackend;
  lmtp::RecipientVerdict check_recipient(const lmtp::RecipientRequest& request) override;
};

// A session hands a message to the committer (the hook in Session::submit).
void delivery_started(const std::string& session_id);
// Its result has come back on the event-loop thread, with the per-recipient replies about to be
// sent.
void delivery_finished(const std::string& session_id, const store::DeliveryResult& result,
                       const std::vector<lmtp::Reply>& replies);

}  // namespace cubby::server
