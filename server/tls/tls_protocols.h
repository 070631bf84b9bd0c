// The TLS rules both ends of Cubby's LMTP connections follow: the server's STARTTLS
// (server/lmtpd/tls.h) and the front end's STARTTLS to its back ends (server/proxy/backend_tls.h).
//
// restrict_protocols() narrows an OpenSSL context to TLS 1.2 and 1.3 (further by tls_versions:
// tls1_0 and tls1_1 are never allowed), turns compression and renegotiation off, and sets
// tls_ciphers for TLS 1.2 when it is not empty. Returns what is wrong with the settings (naming
// the setting), or nothing.
#pragma once

#include <openssl/ssl.h>

#include <optional>
#include <string>

#include "conf/settings.h"

namespace cubby::tls {

[[nodiscard]] std::optional<std::string> restrict_protocols(SSL_CTX* ctx,
                                                            const conf::Settings& settings);

// The oldest error in OpenSSL's queue, as text, and the queue emptied.
std::string openssl_error();

}  // namespace cubby::tls
