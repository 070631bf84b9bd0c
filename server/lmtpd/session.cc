// One LMTP connection's async chain; see session.h.
#include "server/lmtpd/session.h"

#include "conf/log.h"
#include "server/lmtpd/tls.h"

namespace cubby::server {
namespace asio = boost::asio;

namespace {
constexpr size_t kReadChunk = 64 * 1024;

lmtp::PeerInfo engine_peer(const auth::Peer& peer, bool preauth) {
  lmtp::PeerInfo info;
  info.preauth = auth::trusted_without_password(peer, preauth);
  info.client_host = peer.received_host();
  return info;
}

// The engine's settings for this peer: STARTTLS only on TCP, with TLS configured.
lmtp::EngineConfig engine_config(const SessionContext& context, const auth::Peer& peer) {
  lmtp::EngineConfig config = context.engine;
  if (context.access) {
    config.starttls = !peer.local && context.access->tls != nullptr;
    config.max_auth_failures = context.access->max_auth_failures;
    config.auth_failure_delay = context.access->auth_failure_delay;
  }
  return config;
}

std::unique_ptr<SaslAuthenticator> make_authenticator(const SessionContext& context,
                                                      const auth::Peer& peer, bool preauth) {
  if (!context.access || auth::trusted_without_password(peer, preauth)) return nullptr;
  auto server = context.access->sasl_server(peer.local_ip_port, peer.remote_ip_port);
  if (!server) return nullptr;
  return std::make_unique<SaslAuthenticator>(std::move(server), peer.received_host());
}

}  // namespace

Session::Session(Socket socket, SessionContext& context, const auth::Peer& peer, bool preauth)
    : socket_(std::move(socket)),
      context_(context),
      host_(peer.received_host()),
      authenticator_(make_authenticator(context, peer, preauth)),
      penalty_(authenticator_ && context.access->penalties
                   ? context.access->penalties->for_address(peer.address)
                   : nullptr),
      engine_(engine_config(context, peer), engine_peer(peer, preauth), context.backend,
              lmtp::new_session_id(context.engine.servername), authenticator_.get(),
              penalty_.get()),
      timer_(context.io),
      auth_delay_timer_(context.io),
      deadline_timer_(context.io) {
  // Reads in the clear are synchronous after a readiness wait (read()): never block the loop.
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);
}

template <typename Handler>
void Session::read_some(Handler&& handler) {
  if (tls_) {
    tls_->async_read_some(asio::buffer(in_), std::forward<Handler>(handler));
  } else {
    socket_.async_read_some(asio::buffer(in_), std::forward<Handler>(handler));
  }
}

template <typename Handler>
void Session::write_all(Handler&& handler) {
  if (tls_) {
    asio::async_write(*tls_, asio::buffer(out_), std::forward<Handler>(handler));
  } else {
    asio::async_write(socket_, asio::buffer(out_), std::forward<Handler>(handler));
  }
}

void Session::start(std::function<void()> on_close) {
  on_close_ = std::move(on_close);
  engine_.start();
  pump();
}

void Session::shutdown() {
  if (closed_) return;
  engine_.shutdown();
  auth_delay_timer_.cancel();  // a delayed AUTH answer is not worth waiting for now
  pump();
}

// Decides the next step from the engine's state; the single place that starts reads and writes.
void Session::pump() {
  if (closed_) return;
  if (auto request = engine_.take_delivery()) submit(std::move(*request));
  if (writing_ || handshaking_ || delaying_) return;
  if (engine_.has_output()) return write();
  if (engine_.closed()) return close();
  if (engine_.tls_requested()) return handshake();
  if (auto delay = engine_.auth_delay()) return wait_auth_delay(*delay);
  if (engine_.awaiting_delivery() || reading_) return;
  read();
}

void Session::read() {
  if (!within_deadline()) {
    engine_.deadline_exceeded();
    return pump();
  }
  reading_ = true;
  arm_timer();
  if (tls_) {
    in_.resize(kReadChunk);
    read_some([self = shared_from_this()](boost::system::error_code ec, size_t n) {
      self->on_read(ec, std::string_view(self->in_.data(), n));
    });
    return;
  }
  // In the clear, wait until the socket is readable and only then read, into the worker's one
  // buffer (the event loop is one thread, and feed() keeps what it needs): an idle connection
  // holds no read buffer, so thousands of idle peers cost little memory.
  socket_.async_wait(Socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return self->on_read(ec, {});
    thread_local std::string buffer(kReadChunk, '\0');
    boost::system::error_code read_ec;
    const size_t n = self->socket_.read_some(asio::buffer(buffer), read_ec);
    if (read_ec == asio::error::would_block || read_ec == asio::error::try_again) {
      self->reading_ = false;
      self->timer_.cancel();
      if (!self->closed_) self->read();  // woken for nothing: wait again
      return;
    }
    self->on_read(read_ec, std::string_view(buffer.data(), n));
  });
}

void Session::on_read(boost::system::error_code ec, std::string_view bytes) {
  reading_ = false;
  timer_.cancel();
  deadline_timer_.cancel();
  const bool deadline_hit = std::exchange(deadline_hit_, false);
  if (closed_) return;
  if (ec) {
    if (ec == asio::error::operation_aborted) {  // the idle timer or the deadline fired
      if (deadline_hit) {
        engine_.deadline_exceeded();
      } else {
        engine_.timeout();
      }
      return pump();
    }
    return close();  // EOF or reset: a session ended without QUIT
  }
  engine_.feed(bytes);
  pump();
}

void Session::write() {
  writing_ = true;
  out_ = engine_.take_output();
  arm_timer();
  write_all([self = shared_from_this()](boost::system::error_code ec, size_t) {
    self->writing_ = false;
    self->timer_.cancel();
    // Replies to a long pipelined batch can be large; an idle session keeps no big buffer.
    if (self->out_.capacity() > kReadChunk) std::string().swap(self->out_);
    if (ec) return self->close();
    self->pump();
  });
}

void Session::handshake() {
  handshaking_ = true;
  tls_ = std::make_unique<asio::ssl::stream<Socket&>>(socket_, *context_.access->tls);
  arm_timer();  // the idle timeout bounds the handshake
  tls_->async_handshake(asio::ssl::stream_base::server,
                        [self = shared_from_this()](boost::system::error_code ec) {
                          self->handshaking_ = false;
                          self->timer_.cancel();
                          if (self->closed_) return;
                          if (ec) {
                            // Nothing more can be said: the peer expects TLS records.
                            CUBBY_LOG_NOTICE("STARTTLS negotiation failed: %s: %s",
                                             self->host_.c_str(), ec.message().c_str());
                            return self->close();
                          }
                          self->tls_ready();
                        });
}

void Session::tls_ready() {
  SSL* ssl = tls_->native_handle();
  lmtp::TlsSummary summary = describe_tls(ssl);
  const std::optional<std::string> name = verified_client_name(ssl);
  std::optional<std::string> identity;
  if (name) {
    if (context_.access->is_admin(*name)) {
      identity = name;
      CUBBY_LOG_NOTICE("login: %s %s TLS client certificate User logged in", host_.c_str(),
                       name->c_str());
    } else {
      CUBBY_LOG_WARNING("%s is not an LMTP admin (TLS client certificate of %s)", name->c_str(),
                        host_.c_str());
    }
  }
  CUBBY_LOG_INFO("starttls: %s %s with cipher %s (%d/%d bits %s)", host_.c_str(),
                 summary.version.c_str(), summary.cipher.c_str(), summary.bits,
                 summary.algorithm_bits, summary.verified ? "verified" : "no client certificate");
  if (authenticator_) {
    authenticator_->tls_started(static_cast<unsigned>(summary.bits), name ? &*name : nullptr);
  }
  engine_.tls_started(std::move(summary), std::move(identity));
  pump();
}

void Session::wait_auth_delay(std::chrono::milliseconds delay) {
  delaying_ = true;
  auth_delay_timer_.expires_after(delay);
  auth_delay_timer_.async_wait([self = shared_from_this()](boost::system::error_code) {
    self->delaying_ = false;
    if (self->closed_) return;
    self->engine_.auth_delay_over();
    self->pump();
  });
}

void Session::submit(lmtp::DeliveryRequest request) {
  context_.carrier.carry(std::move(request), [self = shared_from_this()](
                                                 std::vector<lmtp::Reply> replies) {
    self->engine_.delivered(std::move(replies));
    self->pump();
  });
}

void Session::arm_timer() {
  timer_.expires_after(context_.idle_timeout);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->closed_) return;
    if (self->writing_) return self->close();  // the peer stopped reading: nothing left to say
    self->socket_.cancel();                    // the pending read ends with operation_aborted
  });
}

// Keeps the deadline of the request the peer is sending (if any): false when it has passed;
// otherwise the deadline timer is set to cancel the read when it comes.
bool Session::within_deadline() {
  const std::optional<lmtp::RequestProgress> progress = engine_.request_in_progress();
  if (!progress || context_.request_deadline.count() <= 0) {
    request_.reset();  // between requests, or waiting for us: no deadline runs
    deadline_timer_.cancel();
    return true;
  }
  const auto now = std::chrono::steady_clock::now();
  const std::pair<bool, uint64_t> key{progress->message, progress->serial};
  if (request_ != key) {
    request_ = key;
    request_start_ = now;
  }
  auto allowance = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      context_.request_deadline);
  if (progress->message) {
    const uint64_t rate = std::max<uint64_t>(context_.min_data_rate, 1);
    allowance += std::chrono::milliseconds(progress->bytes / rate * 1000 +
                                           progress->bytes % rate * 1000 / rate);
  }
  const auto deadline = request_start_ + allowance;
  if (now >= deadline) return false;
  deadline_timer_.expires_at(deadline);
  deadline_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->closed_ || !self->reading_) return;
    self->deadline_hit_ = true;
    self->socket_.cancel();  // the pending read ends with operation_aborted
  });
  return true;
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  deadline_timer_.cancel();
  auth_delay_timer_.cancel();
  boost::system::error_code ignored;
  socket_.shutdown(Socket::shutdown_both, ignored);
  socket_.close(ignored);
  if (on_close_) std::exchange(on_close_, nullptr)();
}

}  // namespace cubby::server
