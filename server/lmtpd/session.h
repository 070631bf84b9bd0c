// Session: one LMTP connection in a worker: owns its socket, idle timer and Engine. An idle session
// holds no read buffer: in the clear it waits for readability and then reads into one buffer the
// worker's sessions share (its event loop is one thread); under TLS it has its own.
//
// The async chain: read → Engine::feed → if the engine offers a delivery, hand it to the committer
// (its result comes back through the io_context and goes into Engine::delivered) → write whatever
// replies are queued → read again, unless the engine is closed or waits for its delivery. Every
// read and write has the idle deadline (lmtp_idle_timeout); when it passes the engine writes its
// 421 and the connection closes. No state is shared with other sessions except through the worker's
// SessionContext (the store, the committer, the settings and the access policy, all owned by the
// worker or the process).
//
// The byte stream is the plain socket until STARTTLS, then an OpenSSL stream over the same socket
// (read_some()/write_all() go through whichever is current). The TLS handshake is bounded by the
// idle timeout; if it fails the connection is closed without a reply. A failed AUTH is answered
// after the engine's delay, waited on a timer of this session: the worker's other sessions go on
// meanwhile.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "auth/peer.h"
#include "server/lmtp/engine.h"
#include "server/lmtpd/access_policy.h"
#include "server/lmtpd/sasl_authenticator.h"
#include "server/lmtpd/store_backend.h"
#include "store/committer.h"

namespace cubby::server {

struct SessionContext {
  boost::asio::io_context& io;
  StoreBackend& backend;
  store::Committer& committer;
  lmtp::EngineConfig engine;
  std::chrono::milliseconds idle_timeout{360000};
  bool chatty = false;
  // Who may connect and how they authenticate; null: no TLS, no SASL, no network restriction.
  const AccessPolicy* access = nullptr;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  using Socket = boost::asio::generic::stream_protocol::socket;

  // `peer` describes the socket's other end (auth::describe_peer); `preauth` is lmtpd -a.
  Session(Socket socket, SessionContext& context, const auth::Peer& peer, bool preauth);
  // Sends the greeting and starts reading. `on_close` runs once when the connection is gone.
  void start(std::function<void()> on_close);
  // The server is stopping: finish the transaction in flight, then say 421 and close.
  void shutdown();

 private:
  void pump();
  void read();
  void on_read(boost::system::error_code ec, std::string_view bytes);
  void write();
  void handshake();
  void tls_ready();
  void wait_auth_delay(std::chrono::milliseconds delay);
  void submit(lmtp::DeliveryRequest request);
  void arm_timer();
  void close();

  template <typename Handler>
  void read_some(Handler&& handler);
  template <typename Handler>
  void write_all(Handler&& handler);

  Socket socket_;
  std::unique_ptr<boost::asio::ssl::stream<Socket&>> tls_;  // after STARTTLS
  SessionContext& context_;
  std::string host_;  // the peer for the log: "[192.0.2.1]", "[unix socket]"
  std::unique_ptr<SaslAuthenticator> authenticator_;  // TCP peers that must authenticate
  lmtp::Engine engine_;
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer auth_delay_timer_;
  std::string in_;   // read buffer under TLS (in the clear the worker's one buffer is used)
  std::string out_;  // bytes being written
  bool reading_ = false, writing_ = false, handshaking_ = false, delaying_ = false, closed_ = false;
  std::function<void()> on_close_;
};

}  // namespace cubby::server
