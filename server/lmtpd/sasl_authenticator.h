// SaslAuthenticator: the engine's Authenticator (server/lmtp/authenticator.h) over one libsasl2
// conversation (auth::SaslServer), logging each outcome as Cyrus does:
//   login: <host> <identity> <MECH>[+TLS] User logged in            (NOTICE)
//   <identity> is not an LMTP admin                                  (WARNING)
//   badlogin: <host> <MECH> [<libsasl2 detail>]                       (NOTICE)
#pragma once

#include <memory>
#include <string>

#include "auth/sasl.h"
#include "server/lmtp/authenticator.h"

namespace cubby::server {

class SaslAuthenticator : public lmtp::Authenticator {
 public:
  // `host` is the peer as the log names it ("[192.0.2.1]").
  SaslAuthenticator(std::unique_ptr<auth::SaslServer> server, std::string host);

  std::vector<std::string> mechanisms() override;
  lmtp::AuthStep start(std::string_view mechanism,
                       std::optional<std::string_view> initial) override;
  lmtp::AuthStep step(std::string_view response) override;
  void cancel() override;

  // TLS is up (see auth::SaslServer::set_external).
  void tls_started(unsigned ssf, const std::string* certificate_name);

 private:
  lmtp::AuthStep outcome(auth::SaslStep step);

  std::unique_ptr<auth::SaslServer> server_;
  std::string host_;
  std::string mechanism_;
  bool tls_ = false;
};

}  // namespace cubby::server
