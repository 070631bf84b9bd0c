// ReportServer: how cubby-master answers questions about itself, on a listening socket it owns.
//
// Two protocols, one request per connection, the answer computed by a callback at request time:
//   kControl  the control socket ({configdirectory}/socket/master-status, mode 0600): the client
//             sends one line ("status", "status json" or "metrics") and reads the answer to EOF;
//             an unknown request gets "error: ..." and a line listing what is known;
//   kHttp     metrics_listen: `GET /metrics` (or HEAD) gets the Prometheus text with HTTP/1.0
//             headers; any other path 404, any other method 405.
// Requests are bounded (8 KiB, 5 s to arrive); at most 16 connections are served at once (more are
// closed at once). A UNIX socket's file is removed when the server goes, if it is still ours.
// Runs on the master's io_context, which must outlive it.
#pragma once

#include <sys/types.h>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

namespace cubby::server {

class ReportServer {
 public:
  enum class Protocol { kControl, kHttp };
  // Given the request ("status", "status json", "metrics"; for HTTP always "metrics"), returns
  // the answer's body.
  using Answer = std::function<std::string(const std::string& request)>;

  // Takes ownership of `listen_fd` (bound and listening). `unix_path` is the socket file to
  // remove at the end ("" for TCP).
  ReportServer(boost::asio::io_context& io, int listen_fd, Protocol protocol, Answer answer,
               std::string unix_path);
  ~ReportServer();
  ReportServer(const ReportServer&) = delete;
  ReportServer& operator=(const ReportServer&) = delete;

  const std::string& unix_path() const { return unix_path_; }

 private:
  struct Connection;
  void accept();

  boost::asio::io_context& io_;
  boost::asio::basic_socket_acceptor<boost::asio::generic::stream_protocol> acceptor_;
  Protocol protocol_;
  Answer answer_;
  std::string unix_path_;
  dev_t unix_dev_ = 0;
  ino_t unix_ino_ = 0;
  std::shared_ptr<int> open_connections_;  // shared with connections, which may outlive us
};

}  // namespace cubby::server
