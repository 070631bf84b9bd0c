// The engine's SASL exchanges through libsasl2, with Cyrus's log lines; see sasl_authenticator.h.
#include "server/lmtpd/sasl_authenticator.h"

#include "conf/log.h"

namespace cubby::server {

SaslAuthenticator::SaslAuthenticator(std::unique_ptr<auth::SaslServer> server, std::string host)
    : server_(std::move(server)), host_(std::move(host)) {}

std::vector<std::string> SaslAuthenticator::mechanisms() { return server_->mechanisms(); }

lmtp::AuthStep SaslAuthenticator::start(std::string_view mechanism,
                                        std::optional<std::string_view> initial) {
  mechanism_ = std::string(mechanism);
  return outcome(server_->start(mechanism, initial));
}

lmtp::AuthStep SaslAuthenticator::step(std::string_view response) {
  return outcome(server_->step(response));
}

void SaslAuthenticator::cancel() {
  CUBBY_LOG_INFO("badlogin: %s %s [cancelled by the client]", host_.c_str(), mechanism_.c_str());
}

void SaslAuthenticator::tls_started(unsigned ssf, const std::string* certificate_name) {
  tls_ = true;
  if (!server_->set_external(ssf, certificate_name)) {
    CUBBY_LOG_ERR("cannot give libsasl2 the TLS layer of %s", host_.c_str());
  }
}

lmtp::AuthStep SaslAuthenticator::outcome(auth::SaslStep step) {
  using Kind = auth::SaslStep::Kind;
  switch (step.kind) {
    case Kind::kContinue:
      return lmtp::AuthStep::challenge(std::move(step.data));
    case Kind::kSuccess:
      CUBBY_LOG_NOTICE("login: %s %s %s%s User logged in", host_.c_str(), step.data.c_str(),
                       mechanism_.c_str(), tls_ ? "+TLS" : "");
      return lmtp::AuthStep::success(std::move(step.data));
    case Kind::kNoMechanism:
      return {lmtp::AuthStep::Kind::kNoMechanism, std::move(step.data)};
    case Kind::kFailure:
      break;
  }
  if (!server_->refused_identity().empty()) {
    CUBBY_LOG_WARNING("%s is not an LMTP admin", server_->refused_identity().c_str());
  }
  CUBBY_LOG_NOTICE("badlogin: %s %s [%s]", host_.c_str(), mechanism_.c_str(), step.data.c_str());
  return lmtp::AuthStep::failure(std::move(step.data));
}

}  // namespace cubby::server
