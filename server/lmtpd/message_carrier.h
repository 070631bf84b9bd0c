// MessageCarrier: what takes a finished message away from a session and brings back one reply per
// recipient. A session does not know where mail goes: in a mailbox server the StoreCarrier hands it
// to the store's committer (the group commit, store/committer.h); in an LMTP front end (lmtpd -P,
// docs/scale-out.md) the ForwardingCarrier (front_end.h) forwards it to the back ends.
//
// carry() returns at once; `done` runs later on the worker's event-loop thread, never inside
// carry(), with one Reply per recipient of the request, in its order. While a message is carried
// the io_context has work (a work guard), so a draining worker's run() does not return before the
// replies are sent.
#pragma once

#include <boost/asio.hpp>
#include <functional>
#include <vector>

#include "server/lmtp/backend.h"
#include "server/lmtp/reply.h"
#include "server/lmtpd/store_backend.h"
#include "store/committer.h"

namespace cubby::server {

class MessageCarrier {
 public:
  using Done = std::function<void(std::vector<lmtp::Reply>)>;
  virtual ~MessageCarrier() = default;
  virtual void carry(lmtp::DeliveryRequest request, Done done) = 0;
};

// The mailbox server's carrier: StoreBackend::batch, the committer, StoreBackend::replies (which
// logs each outcome), with the delivery metrics around it. Used on the event-loop thread.
class StoreCarrier : public MessageCarrier {
 public:
  StoreCarrier(boost::asio::io_context& io, StoreBackend& backend, store::Committer& committer)
      : io_(io), backend_(backend), committer_(committer) {}
  void carry(lmtp::DeliveryRequest request, Done done) override;

 private:
  boost::asio::io_context& io_;
  StoreBackend& backend_;
  store::Committer& committer_;
};

}  // namespace cubby::server
