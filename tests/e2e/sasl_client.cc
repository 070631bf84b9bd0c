// The tests' AUTH exchanges; see sasl_client.h.
#include "tests/e2e/sasl_client.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>

#include "server/lmtp/base64.h"
#include "tests/auth/sasl_fixtures.h"

namespace cubby::e2e {
namespace {

using lmtp::decode_base64;
using lmtp::encode_base64;

LmtpReply broken(const std::string& why) {
  LmtpReply r;
  r.lines.push_back("(exchange broken: " + why + ")");
  return r;
}

// The decoded challenge of a 334 reply, or nullopt.
std::optional<std::string> challenge(const LmtpReply& r) {
  if (r.code != 334 || r.lines.empty()) return std::nullopt;
  const std::string& line = r.lines.back();
  return decode_base64(line.size() > 4 ? line.substr(4) : "");
}

}  // namespace

LmtpReply auth_plain(LmtpClient& c, const std::string& user, const std::string& password) {
  const std::string message = std::string("\0", 1) + user + std::string("\0", 1) + password;
  return c.command("AUTH PLAIN " + encode_base64(message));
}

LmtpReply auth_login(LmtpClient& c, const std::string& user, const std::string& password) {
  LmtpReply r = c.command("AUTH LOGIN");
  if (!challenge(r)) return r;
  r = c.command(encode_base64(user));
  if (!challenge(r)) return r;
  return c.command(encode_base64(password));
}

LmtpReply auth_cram_md5(LmtpClient& c, const std::string& user, const std::string& password) {
  LmtpReply r = c.command("AUTH CRAM-MD5");
  auto text = challenge(r);
  if (!text) return r;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_md5(), password.data(), static_cast<int>(password.size()),
       reinterpret_cast<const unsigned char*>(text->data()), text->size(), digest, &len);
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", digest[i]);
    hex += b;
  }
  return c.command(encode_base64(user + " " + hex));
}

LmtpReply auth_libsasl(LmtpClient& c, const std::string& mechanism, const std::string& user,
                       const std::string& password, const std::string& realm) {
  test::LibSaslClient client(user, password, realm);
  std::optional<std::string> initial;
  if (auto e = client.start(realm, mechanism, &initial); !e.empty()) return broken(e);
  LmtpReply r =
      c.command("AUTH " + mechanism +
                (initial ? " " + (initial->empty() ? std::string("=") : encode_base64(*initial))
                         : std::string()));
  for (int round = 0; round < 10; ++round) {
    auto text = challenge(r);
    if (!text) return r;
    std::string response;
    if (auto e = client.step(*text, &response); !e.empty()) {
      c.command("*");
      return broken(e);
    }
    r = c.command(encode_base64(response));
  }
  return broken("too many rounds");
}

std::string auth_line(const LmtpReply& lhlo) {
  for (const std::string& line : lhlo.lines) {
    if (line.rfind("250-AUTH ", 0) == 0) return line.substr(9);
  }
  return "";
}

}  // namespace cubby::e2e
