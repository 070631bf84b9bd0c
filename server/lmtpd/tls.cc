// The OpenSSL context and connection facts for STARTTLS; see tls.h.
#include "server/lmtpd/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "server/tls/tls_protocols.h"

namespace cubby::server {
namespace ssl = boost::asio::ssl;
using tls::openssl_error;

Result<std::unique_ptr<ssl::context>, std::string> make_tls_context(
    const conf::Settings& settings) {
  const std::string cert = settings.get_string("tls_server_cert");
  const std::string key = settings.get_string("tls_server_key");
  if (cert.empty() || key.empty()) return std::unique_ptr<ssl::context>();

  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  // TLS 1.2 and 1.3 only, narrowed by tls_versions; the server's order of ciphers.
  if (auto error = tls::restrict_protocols(ctx, settings)) return fail(*error);
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    return fail("tls_server_cert " + cert + ": " + openssl_error());
  }
  const std::string chain = settings.get_string("tls_server_ca_file");
  if (!chain.empty()) {
    // The intermediate certificates a client needs to reach its trust anchor.
    BIO* bio = BIO_new_file(chain.c_str(), "r");
    if (!bio) return fail("tls_server_ca_file " + chain + ": " + openssl_error());
    int added = 0;
    while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      if (SSL_CTX_add_extra_chain_cert(ctx, x) != 1) {
        X509_free(x);
        BIO_free(bio);
        return fail("tls_server_ca_file " + chain + ": " + openssl_error());
      }
      ++added;
    }
    BIO_free(bio);
    ERR_clear_error();  // the end of the file reads as an error
    if (added == 0) return fail("tls_server_ca_file " + chain + ": no certificate in it");
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail("tls_server_key " + key + ": " + openssl_error());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return fail("tls_server_key " + key + " does not match tls_server_cert " + cert);
  }

  const std::string client_ca = settings.get_string("tls_client_ca_file");
  if (!client_ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, client_ca.c_str(), nullptr) != 1) {
      return fail("tls_client_ca_file " + client_ca + ": " + openssl_error());
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(client_ca.c_str());
    if (!names) return fail("tls_client_ca_file " + client_ca + ": no certificate in it");
    SSL_CTX_set_client_CA_list(ctx, names);
    // Ask, do not require; a certificate that fails to verify only authenticates nobody.
    context->set_verify_mode(ssl::verify_peer);
    context->set_verify_callback([](bool, ssl::verify_context&) { return true; });
  }
  static const unsigned char kSessionContext[] = "cubby-lmtp";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  return context;
}

lmtp::TlsSummary describe_tls(SSL* ssl) {
  lmtp::TlsSummary s;
  s.version = SSL_get_version(ssl);
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  if (cipher) {
    s.cipher = SSL_CIPHER_get_name(cipher);
    s.bits = SSL_CIPHER_get_bits(cipher, &s.algorithm_bits);
  }
  s.verified = verified_client_name(ssl).has_value();
  return s;
}

std::optional<std::string> verified_client_name(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return std::nullopt;
  std::optional<std::string> name;
  if (SSL_get_verify_result(ssl) == X509_V_OK) {
    X509_NAME* subject = X509_get_subject_name(cert);
    const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index >= 0) {
      ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
      unsigned char* utf8 = nullptr;
      const int len = ASN1_STRING_to_UTF8(&utf8, data);
      if (len > 0) {
        std::string cn(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
        bool clean = true;
        for (unsigned char c : cn) clean = clean && c >= 0x20 && c != 0x7f;
        if (clean) name = std::move(cn);
      }
      OPENSSL_free(utf8);
    }
  }
  X509_free(cert);
  return name;
}

}  // namespace cubby::server
