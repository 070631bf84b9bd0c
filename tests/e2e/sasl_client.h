// AUTH from the end-to-end tests' client side: PLAIN (RFC 4616), LOGIN and CRAM-MD5 (RFC 2195,
// HMAC-MD5 through OpenSSL) written out here, and any other mechanism (DIGEST-MD5, SCRAM-*)
// through libsasl2's client (tests/auth/sasl_fixtures.h). Each runs the whole AUTH exchange on an
// LmtpClient and returns the server's final reply (235, 535, 504, ...; code 0 when the exchange
// broke, with the reason in the text).
#pragma once

#include <string>

#include "tests/e2e/lmtp_client.h"

namespace cubby::e2e {

LmtpReply auth_plain(LmtpClient& c, const std::string& user, const std::string& password);
LmtpReply auth_login(LmtpClient& c, const std::string& user, const std::string& password);
LmtpReply auth_cram_md5(LmtpClient& c, const std::string& user, const std::string& password);
// `realm` is the server's realm (its servername) for DIGEST-MD5.
LmtpReply auth_libsasl(LmtpClient& c, const std::string& mechanism, const std::string& user,
                       const std::string& password, const std::string& realm);

// The mechanisms of the `250-AUTH` line of an LHLO reply ("" when none).
std::string auth_line(const LmtpReply& lhlo);

}  // namespace cubby::e2e
