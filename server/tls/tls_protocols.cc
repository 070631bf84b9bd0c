// Protocol versions, ciphers and error text for both ends' TLS; see tls_protocols.h.
#include "server/tls/tls_protocols.h"

#include <openssl/err.h>

#include "conf/values.h"

namespace cubby::tls {

std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

std::optional<std::string> restrict_protocols(SSL_CTX* ctx, const conf::Settings& settings) {
  int lowest = 0, highest = 0;
  for (const std::string& v : conf::split_list(settings.get_string("tls_versions"))) {
    int version = 0;
    if (v == "tls1_2") version = TLS1_2_VERSION;
    if (v == "tls1_3") version = TLS1_3_VERSION;
    if (version == 0) continue;  // tls1_0 and tls1_1 are never offered
    if (lowest == 0 || version < lowest) lowest = version;
    if (version > highest) highest = version;
  }
  if (lowest == 0) return std::string("tls_versions: names neither tls1_2 nor tls1_3");
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(ctx, lowest);
  SSL_CTX_set_max_proto_version(ctx, highest);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  const std::string ciphers = settings.get_string("tls_ciphers");
  if (!ciphers.empty() && SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1) {
    return "tls_ciphers \"" + ciphers + "\": " + openssl_error();
  }
  return std::nullopt;
}

}  // namespace cubby::tls
