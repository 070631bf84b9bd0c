// BackendTls: the front end's side of STARTTLS to its back ends (proxy_tls, docs/scale-out.md).
//
// from() makes the client context once per worker from the settings (server/tls/client_tls.h,
// Boost.Asio's ssl::stream underneath): TLS 1.2 and 1.3 as tls_versions and tls_ciphers say; the
// back end's certificate must verify against proxy_tls_ca_file (or the system's trust store when
// it is empty); when proxy_tls_client_cert and proxy_tls_client_key are set the front end presents
// that certificate, which a back end with tls_client_ca_file takes as its login (its CN must be one
// of the back end's LMTP admins; server/lmtpd/session.cc). Null (and no error) when proxy_tls is
// off; an unreadable file or a key that does not match is an error naming the setting.
//
// start() runs the handshake on `connection` once the back end has answered STARTTLS with 220:
// the back end's certificate must verify and, for a "host:port" address, name that host (a host
// name, checked as RFC 6125 says, or an IP address, against the certificate's IP addresses); a
// "unix:" address checks the chain only. Bytes the back end sent after its 220 are an error (RFC
// 3207: they would be taken as said under TLS). Afterwards `connection` carries everything through
// TLS. Every wait lasts at most connection.timeout(). Returns why the handshake failed, or nothing.
// Thread-safe: one context serves every connection.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "conf/result.h"
#include "conf/settings.h"
#include "server/deliver/deliver_lmtp.h"
#include "server/tls/client_tls.h"

namespace cubby::proxy {

class BackendTls {
 public:
  static Result<std::shared_ptr<const BackendTls>, std::string> from(
      const conf::Settings& settings);
  BackendTls(const BackendTls&) = delete;
  BackendTls& operator=(const BackendTls&) = delete;

  [[nodiscard]] std::optional<std::string> start(deliver::LmtpConnection& connection,
                                                 const std::string& address) const;
  // A client certificate is presented.
  bool presents_certificate() const { return context_.presents_certificate(); }

 private:
  explicit BackendTls(tls::ClientContext context) : context_(std::move(context)) {}
  tls::ClientContext context_;
};

}  // namespace cubby::proxy
