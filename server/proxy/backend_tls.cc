// STARTTLS from the front end to a back end; see backend_tls.h.
#include "server/proxy/backend_tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "server/tls/tls_protocols.h"

namespace cubby::proxy {
namespace {

using Clock = std::chrono::steady_clock;
using tls::openssl_error;

// The records of one established connection (owns its SSL).
class TlsLayer : public deliver::ByteLayer {
 public:
  explicit TlsLayer(SSL* ssl) : ssl_(ssl) {}
  ~TlsLayer() override { SSL_free(ssl_); }
  TlsLayer(const TlsLayer&) = delete;
  TlsLayer& operator=(const TlsLayer&) = delete;

  ssize_t read(char* buf, size_t len, short* wait, std::string* why) override {
    ERR_clear_error();
    const int n = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(len, 1 << 30)));
    if (n > 0) return n;
    return failed(n, wait, why, true);
  }
  ssize_t write(const char* buf, size_t len, short* wait, std::string* why) override {
    ERR_clear_error();
    const int n = SSL_write(ssl_, buf, static_cast<int>(std::min<size_t>(len, 1 << 30)));
    if (n > 0) return n;
    return failed(n, wait, why, false);
  }

 private:
  ssize_t failed(int n, short* wait, std::string* why, bool reading) {
    switch (SSL_get_error(ssl_, n)) {
      case SSL_ERROR_WANT_READ:
        *wait = POLLIN;
        return -1;
      case SSL_ERROR_WANT_WRITE:
        *wait = POLLOUT;
        return -1;
      case SSL_ERROR_ZERO_RETURN:  // close_notify: the end of the stream
        if (reading) return 0;
        *why = "TLS: the back end closed the connection";
        return -1;
      default:
        *why = "TLS: " + openssl_error();
        return -1;
    }
  }
  SSL* ssl_;
};

// The host part of "host:port" or "[v6]:port"; "" for a UNIX socket address.
std::string host_of(const std::string& address) {
  if (address.empty() || address[0] == '/' || address.rfind("unix:", 0) == 0) return "";
  if (address[0] == '[') return address.substr(1, address.find(']') - 1);
  return address.substr(0, address.rfind(':'));
}

bool is_ip_address(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

BackendTls::~BackendTls() { SSL_CTX_free(ctx_); }

Result<std::shared_ptr<const BackendTls>, std::string> BackendTls::from(
    const conf::Settings& settings) {
  if (!settings.get_bool("proxy_tls")) return std::shared_ptr<const BackendTls>();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return fail("proxy_tls: " + openssl_error());
  std::shared_ptr<BackendTls> t(new BackendTls(ctx));
  if (auto error = tls::restrict_protocols(ctx, settings)) return fail(*error);
  const std::string ca = settings.get_string("proxy_tls_ca_file");
  if (ca.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) return fail("proxy_tls: " + openssl_error());
  } else if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) {
    return fail("proxy_tls_ca_file " + ca + ": " + openssl_error());
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  const std::string cert = settings.get_string("proxy_tls_client_cert");
  const std::string key = settings.get_string("proxy_tls_client_key");
  if (cert.empty() != key.empty()) {
    return fail(std::string("proxy_tls_client_cert and proxy_tls_client_key go together"));
  }
  if (!cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
      return fail("proxy_tls_client_cert " + cert + ": " + openssl_error());
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      return fail("proxy_tls_client_key " + key + ": " + openssl_error());
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return fail("proxy_tls_client_key " + key + " does not match proxy_tls_client_cert " + cert);
    }
    t->certificate_ = true;
  }
  return std::shared_ptr<const BackendTls>(std::move(t));
}

std::optional<std::string> BackendTls::start(deliver::LmtpConnection& connection,
                                             const std::string& address) const {
  if (connection.has_unread()) return std::string("the back end sent more after its 220");
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return openssl_error();
  auto layer = std::make_unique<TlsLayer>(ssl);  // frees ssl on every path
  if (SSL_set_fd(ssl, connection.fd()) != 1) return openssl_error();
  const std::string host = host_of(address);
  if (!host.empty() && is_ip_address(host)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) != 1) {
      return openssl_error();
    }
  } else if (!host.empty()) {
    // Host name verification as RFC 6125 says (what Asio's ssl::host_name_verification does).
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, host.c_str()) != 1 ||
        SSL_set_tlsext_host_name(ssl, const_cast<char*>(host.c_str())) != 1) {
      return openssl_error();
    }
  }
  const auto deadline = Clock::now() + connection.timeout();
  for (;;) {
    ERR_clear_error();
    const int rc = SSL_connect(ssl);
    if (rc == 1) break;
    const int error = SSL_get_error(ssl, rc);
    short events = 0;
    if (error == SSL_ERROR_WANT_READ) events = POLLIN;
    if (error == SSL_ERROR_WANT_WRITE) events = POLLOUT;
    if (events == 0) {
      const long verified = SSL_get_verify_result(ssl);
      if (verified != X509_V_OK) {
        return std::string("the back end's certificate: ") +
               X509_verify_cert_error_string(verified);
      }
      return openssl_error();
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{connection.fd(), events, 0};
    const int ready = left > 0 ? ::poll(&p, 1, static_cast<int>(left)) : 0;
    if (ready == 0) return std::string("no TLS handshake within the timeout");
    if (ready < 0 && errno != EINTR) return std::string("poll failed during the TLS handshake");
  }
  connection.set_layer(std::move(layer));
  return std::nullopt;
}

}  // namespace cubby::proxy
