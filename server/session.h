// Session: one LMTP connection in a worker: owns its socket, read buffer, idle timer and Engine.
//
// The async chain: read → Engine::feed → if the engine offers a delivery, hand it to the committer
// (its result comes back through the io_context and goes into Engine::delivered) → write whatever
// replies are queued → read again, unless the engine is closed or waits for its delivery. Every read
// and write has the idle deadline (lmtp_idle_timeout); when it passes the engine writes its 421 and
// the connection closes. No state is shared with other sessions except through the worker's
// SessionContext (the store, the committer and the settings, all owned by the worker).
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "server/lmtp/engine.h"
#include "server/store_backend.h"
#include "store/committer.h"

namespace cubby::server {

struct SessionContext {
  boost::asio::io_context& io;
  StoreBackend& backend;
  store::Committer& committer;
  lmtp::EngineConfig engine;
  std::chrono::milliseconds idle_timeout{360000};
  bool chatty = false;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  using Socket = boost::asio::generic::stream_protocol::socket;

  Session(Socket socket, SessionContext& context, lmtp::PeerInfo peer);
  // Sends the greeting and starts reading. `on_close` runs once when the connection is gone.
  void start(std::function<void()> on_close);
  // The server is stopping: finish the transaction in flight, then say 421 and close.
  void shutdown();

 private:
  void pump();
  void read();
  void write();
  void submit(lmtp::DeliveryRequest request);
  void arm_timer();
  void close();

  Socket socket_;
  SessionContext& context_;
  lmtp::Engine engine_;
  boost::asio::steady_timer timer_;
  std::string in_;     // read buffer
  std::string out_;    // bytes being written
  bool reading_ = false, writing_ = false, closed_ = false;
  std::function<void()> on_close_;
};

}  // namespace cubby::server
