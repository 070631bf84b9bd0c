// The store's carrier of finished messages; see message_carrier.h.
#include "server/lmtpd/message_carrier.h"

#include <memory>

#include "server/lmtpd/delivery_metrics.h"

namespace cubby::server {
namespace asio = boost::asio;

void StoreCarrier::carry(lmtp::DeliveryRequest request, Done done) {
  auto batch = backend_.batch(request);
  auto info = std::make_shared<lmtp::MessageInfo>(std::move(request.info));
  auto work = asio::make_work_guard(io_);
  delivery_started(info->session_id);  // metrics (delivery_metrics.h)
  committer_.submit(std::move(batch), [this, info, work, done = std::move(done)](
                                          store::DeliveryResult result) mutable {
    asio::post(io_, [this, info, work, done = std::move(done), result = std::move(result)] {
      auto replies = backend_.replies(result, *info);          // logs each outcome
      delivery_finished(info->session_id, result, replies);  // metrics (delivery_metrics.h)
      done(std::move(replies));
    });
  });
}

}  // namespace cubby::server
