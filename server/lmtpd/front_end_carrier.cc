// The front end's carrier: forwarding on a thread pool; see front_end_carrier.h.
#include "server/lmtpd/front_end_carrier.h"

#include <memory>

namespace cubby::server {
namespace asio = boost::asio;

ForwardingCarrier::ForwardingCarrier(asio::io_context& io, proxy::ForwardSettings settings,
                                     size_t threads)
    : io_(io),
      settings_(std::move(settings)),
      cache_(settings_.cached_per_backend, settings_.cache_idle_timeout),
      pool_(threads) {}

ForwardingCarrier::~ForwardingCarrier() { pool_.join(); }

void ForwardingCarrier::carry(lmtp::DeliveryRequest request, Done done) {
  auto work = asio::make_work_guard(io_);
  auto message = std::make_shared<lmtp::DeliveryRequest>(std::move(request));
  asio::post(pool_, [this, message, work, done = std::move(done)]() mutable {
    auto replies = proxy::forward(*message, settings_, &cache_);
    asio::post(io_, [message, work, done = std::move(done), replies = std::move(replies)]() mutable {
      done(std::move(replies));
    });
  });
}

}  // namespace cubby::server
