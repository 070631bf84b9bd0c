// TLS for STARTTLS: the server's OpenSSL context made from the tls_* settings, and what a finished
// handshake says about the connection.
//
// make_tls_context() returns null (and no error) when tls_server_cert or tls_server_key is unset:
// STARTTLS is then not offered. Otherwise the context allows only TLS 1.2 and 1.3 (narrowed by
// tls_versions), uses tls_ciphers for TLS 1.2, serves the certificate chain (tls_server_cert, then
// tls_server_ca_file's certificates), and, when tls_client_ca_file is set, asks the client for a
// certificate without requiring one: the handshake succeeds whatever the client sends, and
// verified_client_name() later says whether the certificate verified. A file that cannot be read,
// a key that does not match or a list that names nothing usable is an error naming the setting.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl.hpp>
#include <memory>
#include <optional>
#include <string>

#include "conf/result.h"
#include "conf/settings.h"
#include "server/lmtp/message_headers.h"

namespace cubby::server {

Result<std::unique_ptr<boost::asio::ssl::context>, std::string> make_tls_context(
    const conf::Settings& settings);

// Version, cipher and bits of an established connection; `verified` when a client certificate
// verified.
lmtp::TlsSummary describe_tls(SSL* ssl);

// The subject CN of the client's certificate when it verified against tls_client_ca_file, else
// nullopt (no certificate, not verified, no CN, or a CN with a NUL or control character).
std::optional<std::string> verified_client_name(SSL* ssl);

}  // namespace cubby::server
