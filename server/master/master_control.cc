// The master's control socket and metrics listener; see master_control.h.
#include "server/master/master_control.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "conf/log.h"

namespace cubby::server {
namespace asio = boost::asio;
using generic = asio::generic::stream_protocol;

namespace {
constexpr size_t kMaxRequest = 8192;
constexpr int kMaxConnections = 16;
constexpr std::chrono::seconds kRequestTimeout{5};

std::string trim_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string http_response(const std::string& status, const std::string& type,
                          const std::string& body, bool head) {
  std::string r = "HTTP/1.0 " + status + "\r\nContent-Type: " + type +
                  "\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\nConnection: close\r\n\r\n";
  if (!head) r += body;
  return r;
}

}  // namespace

struct ReportServer::Connection : std::enable_shared_from_this<Connection> {
  Connection(asio::io_context& io, generic::socket s, Protocol p, Answer a, std::shared_ptr<int> n)
      : socket(std::move(s)),
        timer(io),
        protocol(p),
        answer(std::move(a)),
        open(std::move(n)),
        in(kMaxRequest) {
    ++*open;
  }
  ~Connection() { --*open; }

  void start() {
    timer.expires_after(kRequestTimeout);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      boost::system::error_code ignored;
      self->socket.close(ignored);
    });
    const char* end = protocol == Protocol::kHttp ? "\r\n\r\n" : "\n";
    asio::async_read_until(
        socket, in, end, [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
          self->respond(ec);
        });
  }

  void respond(const boost::system::error_code& ec) {
    timer.cancel();
    if (ec && ec != asio::error::eof) return;  // timed out, too long or gone: nothing to answer
    std::string request(asio::buffers_begin(in.data()), asio::buffers_end(in.data()));
    out = protocol == Protocol::kHttp ? http(request) : control(request);
    asio::async_write(socket, asio::buffer(out),
                      [self = shared_from_this()](const boost::system::error_code&, size_t) {
                        boost::system::error_code ignored;
                        self->socket.shutdown(generic::socket::shutdown_both, ignored);
                        self->socket.close(ignored);
                      });
  }

  std::string control(const std::string& request) {
    std::string line = trim_line(request.substr(0, request.find('\n')));
    if (line == "status" || line == "status json" || line == "metrics") return answer(line);
    return "error: unknown request \"" + line + "\"\nknown: status, status json, metrics\n";
  }

  std::string http(const std::string& request) {
    std::string line = trim_line(request.substr(0, request.find('\n')));
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
    std::string method = line.substr(0, sp1);
    std::string path = sp1 == std::string::npos ? "" : line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string plain = "text/plain; charset=utf-8";
    if (method != "GET" && method != "HEAD")
      return http_response("405 Method Not Allowed", plain, "only GET and HEAD\n", false);
    bool head = method == "HEAD";
    if (path == "/metrics" || path.rfind("/metrics?", 0) == 0)
      return http_response("200 OK", "text/plain; version=0.0.4; charset=utf-8", answer("metrics"),
                           head);
    if (path == "/")
      return http_response("200 OK", plain, "cubby-master: metrics at /metrics\n", head);
    return http_response("404 Not Found", plain, "not found; metrics are at /metrics\n", head);
  }

  generic::socket socket;
  asio::steady_timer timer;
  Protocol protocol;
  Answer answer;
  std::shared_ptr<int> open;
  asio::streambuf in;
  std::string out;
};

ReportServer::ReportServer(asio::io_context& io, int listen_fd, Protocol protocol, Answer answer,
                           std::string unix_path)
    : io_(io),
      acceptor_(io),
      protocol_(protocol),
      answer_(std::move(answer)),
      unix_path_(std::move(unix_path)),
      open_connections_(std::make_shared<int>(0)) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len);
  boost::system::error_code ec;
  acceptor_.assign(generic(ss.ss_family, ss.ss_family == AF_UNIX ? 0 : IPPROTO_TCP), listen_fd, ec);
  if (ec) {
    CUBBY_LOG_ERR("report server: %s", ec.message().c_str());
    close(listen_fd);
    return;
  }
  acceptor_.non_blocking(true, ec);
  struct stat st;
  if (!unix_path_.empty() && stat(unix_path_.c_str(), &st) == 0) {
    unix_dev_ = st.st_dev;
    unix_ino_ = st.st_ino;
  }
  accept();
}

ReportServer::~ReportServer() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  struct stat st;
  if (!unix_path_.empty() && lstat(unix_path_.c_str(), &st) == 0 && st.st_dev == unix_dev_ &&
      st.st_ino == unix_ino_)
    unlink(unix_path_.c_str());
}

void ReportServer::accept() {
  if (!acceptor_.is_open()) return;
  acceptor_.async_accept([this](const boost::system::error_code& ec, generic::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      if (*open_connections_ >= kMaxConnections) {
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<Connection>(io_, std::move(socket), protocol_, answer_, open_connections_)
            ->start();
      }
    }
    accept();
  });
}

}  // namespace cubby::server
