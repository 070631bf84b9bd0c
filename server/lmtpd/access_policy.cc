// Loading the access policy from the settings; see access_policy.h.
#include "server/lmtpd/access_policy.h"

#include <algorithm>

#include "conf/log.h"
#include "server/lmtpd/tls.h"

namespace cubby::server {

Result<std::unique_ptr<AccessPolicy>, std::string> AccessPolicy::load(
    const conf::Settings& settings) {
  auto policy = std::make_unique<AccessPolicy>();
  policy->servername = settings.get_string("servername");
  auto networks = auth::NetworkList::parse(settings.get_list("lmtp_allow_networks"));
  if (!networks.ok()) return fail("lmtp_allow_networks: " + networks.error());
  policy->allowed_networks = std::move(networks.value());
  policy->admins = settings.get_list("admins");
  policy->allow_plaintext = settings.get_bool("allowplaintext");
  policy->min_ssf = static_cast<unsigned>(settings.get_int("sasl_minimum_layer"));
  policy->max_auth_failures = static_cast<size_t>(settings.get_int("lmtp_max_auth_failures"));
  policy->auth_failure_delay = settings.get_duration("lmtp_auth_failure_delay");
  const std::chrono::milliseconds forget = settings.get_duration("lmtp_auth_penalty_timeout");
  if (forget.count() > 0) {
    std::string problem;
    policy->penalties = AuthPenaltyTable::open(
        settings.get_string("configdirectory") + "/" + kPenaltyFile,
        PenaltyRules{policy->auth_failure_delay, std::chrono::milliseconds(30000), forget},
        &problem);
    if (!problem.empty()) CUBBY_LOG_WARNING("%s", problem.c_str());
  }

  auto tls = make_tls_context(settings);
  if (!tls.ok()) return fail(tls.error());
  policy->tls = std::move(tls.value());
  auto sasl = auth::SaslLibrary::init(settings);
  if (!sasl.ok()) return fail(sasl.error());
  policy->sasl = std::move(sasl.value());
  return policy;
}

bool AccessPolicy::is_admin(std::string_view identity) const {
  return !identity.empty() && std::find(admins.begin(), admins.end(), identity) != admins.end();
}

std::unique_ptr<auth::SaslServer> AccessPolicy::sasl_server(const std::string& local,
                                                            const std::string& remote) const {
  if (!sasl) return nullptr;
  auto server =
      auth::SaslServer::open(*sasl, servername, local, remote, {admins, allow_plaintext, min_ssf});
  if (!server.ok()) {
    CUBBY_LOG_ERR("%s", server.error().c_str());
    return nullptr;
  }
  return std::move(server.value());
}

}  // namespace cubby::server
