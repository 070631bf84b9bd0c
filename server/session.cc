// One LMTP connection's async chain; see session.h.
#include "server/session.h"

#include "conf/log.h"

namespace cubby::server {
namespace asio = boost::asio;

namespace {
constexpr size_t kReadChunk = 64 * 1024;
}

Session::Session(Socket socket, SessionContext& context, lmtp::PeerInfo peer)
    : socket_(std::move(socket)),
      context_(context),
      engine_(context.engine, std::move(peer), context.backend,
              lmtp::new_session_id(context.engine.servername)),
      timer_(context.io) {}

void Session::start(std::function<void()> on_close) {
  on_close_ = std::move(on_close);
  engine_.start();
  pump();
}

void Session::shutdown() {
  if (closed_) return;
  engine_.shutdown();
  pump();
}

// Decides the next step from the engine's state; the single place that starts reads and writes.
void Session::pump() {
  if (closed_) return;
  if (auto request = engine_.take_delivery()) submit(std::move(*request));
  if (writing_) return;
  if (engine_.has_output()) return write();
  if (engine_.closed()) return close();
  if (engine_.awaiting_delivery() || reading_) return;
  read();
}

void Session::read() {
  reading_ = true;
  in_.resize(kReadChunk);
  arm_timer();
  socket_.async_read_some(asio::buffer(in_), [self = shared_from_this()](
                                                 boost::system::error_code ec, size_t n) {
    self->reading_ = false;
    self->timer_.cancel();
    if (self->closed_) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) {  // the idle timer fired
        self->engine_.timeout();
        return self->pump();
      }
      return self->close();  // EOF or reset: a session ended without QUIT
    }
    self->engine_.feed(std::string_view(self->in_.data(), n));
    self->pump();
  });
}

void Session::write() {
  writing_ = true;
  out_ = engine_.take_output();
  arm_timer();
  asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this()](
                                                    boost::system::error_code ec, size_t) {
    self->writing_ = false;
    self->timer_.cancel();
    if (ec) return self->close();
    self->pump();
  });
}

void Session::submit(lmtp::DeliveryRequest request) {
  auto batch = context_.backend.batch(request);
  auto info = std::make_shared<lmtp::MessageInfo>(std::move(request.info));
  auto self = shared_from_this();
  // While the committer has the message nothing else may be pending on the io_context (the
  // session does not read meanwhile): without this guard a draining worker's run() would return
  // before the reply is sent.
  auto work = asio::make_work_guard(context_.io);
  context_.committer.submit(std::move(batch), [self, info, work](store::DeliveryResult result) {
    asio::post(self->context_.io, [self, info, work, result = std::move(result)] {
      self->engine_.delivered(self->context_.backend.replies(result, *info));
      self->pump();
    });
  });
}

void Session::arm_timer() {
  timer_.expires_after(context_.idle_timeout);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->closed_) return;
    if (self->writing_) return self->close();  // the peer stopped reading: nothing left to say
    self->socket_.cancel();                     // the pending read ends with operation_aborted
  });
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  boost::system::error_code ignored;
  socket_.shutdown(Socket::shutdown_both, ignored);
  socket_.close(ignored);
  if (on_close_) std::exchange(on_close_, nullptr)();
}

}  // namespace cubby::server
