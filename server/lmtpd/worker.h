// Worker: the lmtpd process's event loop: accepts connections on the listening socket inherited
// from cubby-master (or serves one connection handed over by inetd) and runs a Session for each.
//
// It serves up to `max_connections` sessions at once; at the limit it stops accepting and tells the
// master it is busy (worker_protocol.h), and says ready again when a session ends. drain() stops
// accepting, lets every session finish its transaction in flight and close; io_context::run()
// then returns once the last session is gone. `uses` (-U) ends the worker after that many
// connections, so a long-lived worker is recycled.
//
// A TCP peer whose address is not in the access policy's allowed networks (lmtp_allow_networks)
// gets `421 4.7.0 <ip> not allowed` and is disconnected at once, with a log line; no session is
// made for it.
#pragma once

#include <boost/asio.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <set>

#include "auth/peer.h"
#include "server/lmtpd/session.h"

namespace cubby::server {

struct WorkerConfig {
  size_t max_connections = 200;  // lmtp_max_connections
  bool preauth = false;          // lmtpd -a
  int status_fd = -1;            // the master's status pipe, or -1
  long max_uses = 0;             // -U; 0 = unlimited
};

class Worker {
 public:
  Worker(SessionContext& context, WorkerConfig config);
  // Accepts on an inherited listening socket (UNIX or TCP).
  std::optional<std::string> listen(int fd);
  // Serves the one connection open on `fd` (inetd); the worker drains when it ends.
  void serve(int fd);
  void drain();
  // Called once, when drain() has been called and the last session has closed.
  void on_drained(std::function<void()> f) { on_drained_ = std::move(f); }
  size_t sessions() const { return sessions_.size(); }
  // Called after a session starts or ends, with the number now open (lmtpd's -T idle recycling).
  void on_sessions_changed(std::function<void(size_t)> f) { on_sessions_changed_ = std::move(f); }

 private:
  void accept();
  void start_session(Session::Socket socket);
  void refuse(Session::Socket socket, const auth::Peer& peer);
  void report(int status);
  void check_drained();

  SessionContext& context_;
  WorkerConfig config_;
  std::optional<boost::asio::basic_socket_acceptor<boost::asio::generic::stream_protocol>>
      acceptor_;
  std::set<std::shared_ptr<Session>> sessions_;
  bool accepting_ = false, draining_ = false, single_ = false;
  long uses_ = 0;
  int last_status_ = 0;
  std::function<void()> on_drained_;
  std::function<void(size_t)> on_sessions_changed_;
};

}  // namespace cubby::server
