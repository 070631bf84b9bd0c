// The client end of TLS through Asio's ssl::stream over a borrowed socket; see client_tls.h.
#include "server/tls/client_tls.h"

#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <limits>

#include "server/tls/tls_protocols.h"

namespace cubby::tls {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

struct ClientContext::Shared {
  asio::io_context io;  // the sockets' reactor; nothing runs it (synchronous operations only)
  ssl::context context{ssl::context::tls_client};
  bool certificate = false;
};

namespace {

// What the TLS stream reads and writes through: Asio's socket on the borrowed descriptor, in
// non-blocking mode, whose waits are poll()s ending at a deadline (an Asio socket's own
// synchronous waits have none). Reads wait only when told to (during the handshake): otherwise
// "would block" goes up to the caller, who polls with its own deadline.
class DeadlineSocket {
 public:
  using lowest_layer_type = asio::generic::stream_protocol::socket;
  using executor_type = lowest_layer_type::executor_type;

  explicit DeadlineSocket(asio::io_context& io) : socket_(io) {}
  ~DeadlineSocket() {
    error_code ignored;
    (void)socket_.release(ignored);  // the descriptor is the caller's to close
  }
  DeadlineSocket(const DeadlineSocket&) = delete;
  DeadlineSocket& operator=(const DeadlineSocket&) = delete;

  error_code assign(int fd) {
    sockaddr_storage address{};
    socklen_t size = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      return error_code(errno, boost::system::system_category());
    }
    error_code ec;
    socket_.assign(asio::generic::stream_protocol(address.ss_family, 0), fd, ec);
    if (!ec) socket_.non_blocking(true, ec);
    return ec;
  }
  // From now on waits end at `deadline`; reads wait only when `reads_wait`.
  void wait_until(Clock::time_point deadline, bool reads_wait) {
    deadline_ = deadline;
    reads_wait_ = reads_wait;
  }

  lowest_layer_type& lowest_layer() { return socket_; }
  const lowest_layer_type& lowest_layer() const { return socket_; }
  executor_type get_executor() { return socket_.get_executor(); }

  template <typename MutableBuffers>
  size_t read_some(const MutableBuffers& buffers, error_code& ec) {
    for (;;) {
      const size_t n = socket_.read_some(buffers, ec);
      if (ec != asio::error::would_block || !reads_wait_ || !await(POLLIN, ec)) return n;
    }
  }
  // Always waits (until the deadline): a record the TLS engine handed over must go out whole.
  template <typename ConstBuffers>
  size_t write_some(const ConstBuffers& buffers, error_code& ec) {
    for (;;) {
      const size_t n = socket_.write_some(buffers, ec);
      if (ec != asio::error::would_block || !await(POLLOUT, ec)) return n;
    }
  }

 private:
  // Waits until the socket is ready for `events`; false with `ec` set at the deadline or on error.
  bool await(short events, error_code& ec) {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
      pollfd p{socket_.native_handle(), events, 0};
      const int ready =
          left > 0
              ? ::poll(&p, 1,
                       static_cast<int>(std::min<long long>(left, std::numeric_limits<int>::max())))
              : 0;
      if (ready > 0) return true;
      if (ready == 0) {
        ec = asio::error::timed_out;
        return false;
      }
      if (errno != EINTR) {
        ec = error_code(errno, boost::system::system_category());
        return false;
      }
    }
  }

  lowest_layer_type socket_;
  Clock::time_point deadline_;
  bool reads_wait_ = false;
};

}  // namespace

struct ClientStream::Impl {
  explicit Impl(std::shared_ptr<ClientContext::Shared> s)
      : shared(std::move(s)), stream(shared->io, shared->context) {}
  std::shared_ptr<ClientContext::Shared> shared;  // declared first: outlives the stream
  ssl::stream<DeadlineSocket> stream;
  std::chrono::milliseconds timeout{0};
};

Result<ClientContext, std::string> ClientContext::from(const conf::Settings& settings) {
  std::shared_ptr<Shared> shared;
  try {
    shared = std::make_shared<Shared>();
  } catch (const boost::system::system_error& e) {
    return fail(std::string("proxy_tls: ") + e.what());
  }
  ssl::context& context = shared->context;
  if (auto error = restrict_protocols(context.native_handle(), settings)) return fail(*error);
  error_code ec;
  const std::string ca = settings.get_string("proxy_tls_ca_file");
  if (ca.empty()) {
    context.set_default_verify_paths(ec);
    if (ec) return fail("proxy_tls: " + ec.message());
  } else {
    context.load_verify_file(ca, ec);
    if (ec) return fail("proxy_tls_ca_file " + ca + ": " + ec.message());
  }
  context.set_verify_mode(ssl::verify_peer, ec);
  if (ec) return fail("proxy_tls: " + ec.message());
  const std::string cert = settings.get_string("proxy_tls_client_cert");
  const std::string key = settings.get_string("proxy_tls_client_key");
  if (cert.empty() != key.empty()) {
    return fail(std::string("proxy_tls_client_cert and proxy_tls_client_key go together"));
  }
  if (!cert.empty()) {
    context.use_certificate_chain_file(cert, ec);
    if (ec) return fail("proxy_tls_client_cert " + cert + ": " + ec.message());
    context.use_private_key_file(key, ssl::context::pem, ec);
    if (ec) return fail("proxy_tls_client_key " + key + ": " + ec.message());
    if (SSL_CTX_check_private_key(context.native_handle()) != 1) {
      (void)openssl_error();  // empties the queue
      return fail("proxy_tls_client_key " + key + " does not match proxy_tls_client_cert " + cert);
    }
    shared->certificate = true;
  }
  return ClientContext(std::move(shared));
}

bool ClientContext::presents_certificate() const { return shared_->certificate; }

Result<std::unique_ptr<ClientStream>, std::string> ClientContext::handshake(
    int fd, const std::string& host, std::chrono::milliseconds timeout) const {
  std::unique_ptr<ClientStream::Impl> impl;
  try {
    impl = std::make_unique<ClientStream::Impl>(shared_);
  } catch (const boost::system::system_error& e) {
    return fail(std::string(e.what()));
  }
  DeadlineSocket& socket = impl->stream.next_layer();
  if (const error_code ec = socket.assign(fd)) return fail(ec.message());
  SSL* ssl = impl->stream.native_handle();
  if (!host.empty()) {
    // The name check is OpenSSL's own, run with the chain's verification, so a mismatch reads
    // "hostname mismatch" or "IP address mismatch" like any other verification failure.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    error_code not_an_address;
    (void)asio::ip::make_address(host, not_an_address);
    if (!not_an_address) {
      if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) return fail(openssl_error());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) != 1 ||
          SSL_set_tlsext_host_name(ssl, const_cast<char*>(host.c_str())) != 1) {
        return fail(openssl_error());
      }
    }
  }
  socket.wait_until(Clock::now() + timeout, true);
  error_code ec;
  impl->stream.handshake(ssl::stream_base::client, ec);
  if (ec) {
    const long verified = SSL_get_verify_result(ssl);
    if (verified != X509_V_OK) {
      return fail(std::string("the back end's certificate: ") +
                  X509_verify_cert_error_string(verified));
    }
    if (ec == asio::error::timed_out)
      return fail(std::string("no TLS handshake within the timeout"));
    return fail(ec.message());
  }
  impl->timeout = timeout;
  return std::unique_ptr<ClientStream>(new ClientStream(std::move(impl)));
}

ClientStream::ClientStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClientStream::~ClientStream() = default;

ssize_t ClientStream::read(char* buf, size_t len, short* wait, std::string* why) {
  impl_->stream.next_layer().wait_until(Clock::now(), false);
  error_code ec;
  const size_t n = impl_->stream.read_some(asio::buffer(buf, len), ec);
  if (!ec) return static_cast<ssize_t>(n);
  if (ec == asio::error::would_block) {
    *wait = POLLIN;
  } else if (ec == asio::error::eof) {
    return 0;  // close_notify: the end of the stream
  } else {
    *why = "TLS: " + ec.message();
  }
  return -1;
}

ssize_t ClientStream::write(const char* buf, size_t len, short* wait, std::string* why) {
  DeadlineSocket& socket = impl_->stream.next_layer();
  pollfd p{socket.lowest_layer().native_handle(), POLLOUT, 0};
  if (::poll(&p, 1, 0) == 0) {  // nothing handed to the engine yet: the caller waits
    *wait = POLLOUT;
    return -1;
  }
  socket.wait_until(Clock::now() + impl_->timeout, false);
  error_code ec;
  const size_t n = impl_->stream.write_some(asio::buffer(buf, len), ec);
  if (!ec) return static_cast<ssize_t>(n);
  if (ec == asio::error::would_block && n == 0) {
    *wait = POLLIN;  // the engine needs the back end's bytes first
  } else if (ec == asio::error::eof) {
    *why = "TLS: the back end closed the connection";
  } else if (ec == asio::error::timed_out) {
    *why = "TLS: the back end accepted no data for " +
           std::to_string(impl_->timeout.count() / 1000) + " s";
  } else {
    *why = "TLS: " + ec.message();
  }
  return -1;
}

}  // namespace cubby::tls
