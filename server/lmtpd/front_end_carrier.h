// ForwardingCarrier: the MessageCarrier of an LMTP front end (lmtpd -P, docs/scale-out.md).
//
// carry() hands the message to a pool of `threads` threads, where proxy::forward runs its
// transactions with the back ends (blocking, server/proxy/forwarder.h) over the carrier's
// connection cache (server/proxy/connection_cache.h: connections to the back ends stay open between
// messages), and posts the replies back to the event loop. The event loop itself never waits on a
// back end, so one slow back end does not stall the worker's other sessions; beyond `threads`
// messages at once, further ones wait for a thread. Destroying the carrier waits for the messages
// in flight.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/thread_pool.hpp>

#include "server/lmtpd/message_carrier.h"
#include "server/proxy/connection_cache.h"
#include "server/proxy/forwarder.h"

namespace cubby::server {

class ForwardingCarrier : public MessageCarrier {
 public:
  ForwardingCarrier(boost::asio::io_context& io, proxy::ForwardSettings settings, size_t threads);
  ~ForwardingCarrier() override;
  void carry(lmtp::DeliveryRequest request, Done done) override;

 private:
  boost::asio::io_context& io_;
  proxy::ForwardSettings settings_;
  proxy::ConnectionCache cache_;
  boost::asio::thread_pool pool_;
};

}  // namespace cubby::server
