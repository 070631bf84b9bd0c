// authenticate(): the front end logs in to a back end with SASL (proxy_authname, proxy_password,
// as Cyrus's proxy servers do), right after LHLO.
//
// libsasl2's client picks the strongest of the mechanisms the back end offered (its LHLO `AUTH`
// line) that it can do with a name and a password (SCRAM, DIGEST-MD5, CRAM-MD5, PLAIN, ...) and
// the exchange runs as RFC 4954 says: `AUTH <mechanism> [initial response]`, `334` challenges
// answered in base64, and `235` at the end. No security layer is negotiated. The back end must
// count `authname` among its LMTP admins (`admins`, or `<service>_admins`). A back end that offers
// no password mechanism (only EXTERNAL: it takes the front end as pre-authenticated, a UNIX socket
// or `lmtpd -a`) is not logged in to. Returns why the login failed, or nothing.
#pragma once

#include <optional>
#include <string>

#include "server/deliver/deliver_lmtp.h"

namespace cubby::proxy {

[[nodiscard]] std::optional<std::string> authenticate(deliver::LmtpConnection& connection,
                                                      const std::string& backend,
                                                      const std::string& mechanisms,
                                                      const std::string& authname,
                                                      const std::string& password);

}  // namespace cubby::proxy
