// The worker's accept loop and session bookkeeping; see worker.h.
#include "server/lmtpd/worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/peer.h"
#include "conf/log.h"
#include "server/process/worker_protocol.h"

namespace cubby::server {
namespace asio = boost::asio;
using generic = asio::generic::stream_protocol;

Worker::Worker(SessionContext& context, WorkerConfig config) : context_(context), config_(config) {}

std::optional<std::string> Worker::listen(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return std::string("listening socket: ") + strerror(errno);
  }
  const int protocol = ss.ss_family == AF_UNIX ? 0 : IPPROTO_TCP;
  boost::system::error_code ec;
  acceptor_.emplace(context_.io);
  acceptor_->assign(generic(ss.ss_family, protocol), fd, ec);
  if (ec) return "listening socket: " + ec.message();
  acceptor_->non_blocking(true, ec);
  report(static_cast<int>(WorkerStatus::kReady));
  accepting_ = true;
  accept();
  return std::nullopt;
}

void Worker::serve(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int family = AF_UNIX;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) family = ss.ss_family;
  single_ = true;
  boost::system::error_code ec;
  generic::socket socket(context_.io);
  socket.assign(generic(family, family == AF_UNIX ? 0 : IPPROTO_TCP), fd, ec);
  if (ec) {
    CUBBY_LOG_ERR("cannot serve descriptor %d: %s", fd, ec.message().c_str());
    return;
  }
  start_session(std::move(socket));
}

void Worker::accept() {
  if (!accepting_ || draining_) return;
  if (sessions_.size() >= config_.max_connections) {
    report(static_cast<int>(WorkerStatus::kBusy));
    return;  // resumed by a closing session
  }
  accepting_ = false;
  acceptor_->async_accept([this](boost::system::error_code ec, generic::socket socket) {
    accepting_ = true;
    if (draining_) return;
    if (ec) {
      if (ec != asio::error::operation_aborted) {
        CUBBY_LOG_WARNING("accept: %s", ec.message().c_str());
      }
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
        // Out of descriptors: try again shortly instead of spinning.
        auto timer =
            std::make_shared<asio::steady_timer>(context_.io, std::chrono::milliseconds(100));
        timer->async_wait([this, timer](boost::system::error_code) { accept(); });
        return;
      }
      return accept();
    }
    report(static_cast<int>(WorkerStatus::kConnection));
    start_session(std::move(socket));
    ++uses_;
    if (config_.max_uses > 0 && uses_ >= config_.max_uses) {
      CUBBY_LOG_INFO("served %ld connections (-U); recycling", uses_);
      return drain();
    }
    accept();
  });
}

void Worker::start_session(generic::socket socket) {
  const int fd = socket.native_handle();
  auth::Peer peer = auth::describe_peer(fd);
  if (!peer.local) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (context_.access && !context_.access->allowed_networks.contains(peer.address)) {
      return refuse(std::move(socket), peer);
    }
  }
  auto session = std::make_shared<Session>(std::move(socket), context_, peer, config_.preauth);
  CUBBY_LOG_DEBUG(
      "connection from %s%s", peer.received_host().c_str(),
      auth::trusted_without_password(peer, config_.preauth) ? " preauth'd as postman" : "");
  sessions_.insert(session);
  if (on_sessions_changed_) on_sessions_changed_(sessions_.size());
  session->start([this, weak = std::weak_ptr<Session>(session)] {
    if (auto s = weak.lock()) sessions_.erase(s);
    if (on_sessions_changed_) on_sessions_changed_(sessions_.size());
    if (sessions_.empty()) report(static_cast<int>(WorkerStatus::kIdle));
    if (single_) drain();
    if (draining_) return check_drained();
    report(static_cast<int>(WorkerStatus::kReady));  // there is room again (repeats are dropped)
    if (accepting_) accept();
  });
  if (draining_) session->shutdown();
}

void Worker::refuse(generic::socket socket, const auth::Peer& peer) {
  std::string ip = peer.address.starts_with("IPv6:") ? peer.address.substr(5) : peer.address;
  CUBBY_LOG_NOTICE("connection from [%s] refused: not in lmtp_allow_networks", ip.c_str());
  struct Refusal {
    generic::socket socket;
    std::string reply;
  };
  auto refusal =
      std::make_shared<Refusal>(Refusal{std::move(socket), "421 4.7.0 " + ip + " not allowed\r\n"});
  // A few bytes into a fresh socket's buffer: the write does not wait for the peer.
  asio::async_write(refusal->socket, asio::buffer(refusal->reply),
                    [this, refusal](boost::system::error_code, size_t) {
                      boost::system::error_code ignored;
                      refusal->socket.shutdown(generic::socket::shutdown_both, ignored);
                      refusal->socket.close(ignored);
                      if (sessions_.empty()) report(static_cast<int>(WorkerStatus::kIdle));
                      if (single_) drain();
                    });
}

void Worker::drain() {
  if (draining_) return;
  draining_ = true;
  report(static_cast<int>(WorkerStatus::kBusy));
  if (acceptor_) {
    boost::system::error_code ignored;
    acceptor_->close(ignored);
  }
  // Copy: shutting a session down may close it and erase it from the set.
  auto sessions = sessions_;
  for (auto& s : sessions) s->shutdown();
  check_drained();
}

void Worker::check_drained() {
  if (draining_ && sessions_.empty() && on_drained_) std::exchange(on_drained_, nullptr)();
}

void Worker::report(int status) {
  if (config_.status_fd < 0) return;
  // kReady and kBusy are states (a repeat says nothing); kConnection and kIdle are events.
  if (status == static_cast<int>(WorkerStatus::kReady) ||
      status == static_cast<int>(WorkerStatus::kBusy)) {
    if (status == last_status_) return;
    last_status_ = status;
  }
  StatusMessage msg{static_cast<WorkerStatus>(status), getpid()};
  if (::write(config_.status_fd, &msg, sizeof msg) < 0 && errno == EPIPE) config_.status_fd = -1;
}

}  // namespace cubby::server
