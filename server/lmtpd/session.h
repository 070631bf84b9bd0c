// Session: one LMTP connection in a worker: owns its socket, idle timer and Engine. An idle session
// holds no read buffer: in the clear it waits for readability and then reads into one buffer the
// worker's sessions share (its event loop is one thread); under TLS it has its own.
//
// The async chain: read → Engine::feed → if the engine offers a delivery, hand it to the context's
// MessageCarrier (the committer, or a front end's back ends; its replies come back through the
// io_context and go into Engine::delivered) → write whatever
// replies are queued → read again, unless the engine is closed or waits for its delivery. Every
// read and write has the idle deadline (lmtp_idle_timeout); when it passes the engine writes its
// 421 and the connection closes. Besides, a whole command line, and a whole message, must arrive
// within lmtp_request_deadline of its first byte (a message's deadline grows by 1/
// lmtp_min_data_rate s per byte received), so a peer trickling a byte at a time cannot hold a
// session for ever: when it passes, the engine writes `421 4.4.2`, drops the transaction and the
// connection closes. No state is shared with other sessions except through the worker's
// SessionContext (the engine's backend, the message carrier, the settings and the access policy,
// all owned by the worker or the process).
//
// The byte stream is the plain socket until STARTTLS, then an OpenSSL stream over the same socket
// (read_some()/write_all() go through whichever is current). The TLS handshake is bounded by the
// idle timeout; if it fails the connection is closed without a reply. A failed AUTH is answered
// after the engine's delay, waited on a timer of this session: the worker's other sessions go on
// meanwhile; so is an AUTH waiting for its turn under its client address's penalty (shared by
// every session of every worker, AccessPolicy::penalties).
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
#include "server/lmtpd/message_carrier.h"
#include "server/lmtpd/sasl_authenticator.h"

namespace cubby::server {

struct SessionContext {
  boost::asio::io_context& io;
  lmtp::Backend& backend;   // judges RCPTs, opens the message sink
  MessageCarrier& carrier;  // takes finished messages away
  lmtp::EngineConfig engine;
  std::chrono::milliseconds idle_timeout{360000};
  bool chatty = false;
  // Who may connect and how they authenticate; null: no TLS, no SASL, no network restriction.
  const AccessPolicy* access = nullptr;
  // lmtp_request_deadline (0: none) and lmtp_min_data_rate (bytes/s).
  std::chrono::milliseconds request_deadline{0};
  uint64_t min_data_rate = 500;
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
  bool within_deadline();
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
  std::unique_ptr<lmtp::AuthPenalty> penalty_;         // their address's AUTH failures
  lmtp::Engine engine_;
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer auth_delay_timer_;
  boost::asio::steady_timer deadline_timer_;
  // The request (Engine::request_in_progress: message?, serial) the deadline runs for, and since.
  std::optional<std::pair<bool, uint64_t>> request_;
  std::chrono::steady_clock::time_point request_start_;
  bool deadline_hit_ = false;  // the deadline timer cancelled the read
  std::string in_;   // read buffer under TLS (in the clear the worker's one buffer is used)
  std::string out_;  // bytes being written
  bool reading_ = false, writing_ = false, handshaking_ = false, delaying_ = false, closed_ = false;
  std::function<void()> on_close_;
};

}  // namespace cubby::server
