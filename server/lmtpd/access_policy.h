// AccessPolicy: who may connect to this worker's service and how peers prove who they are, made
// once per lmtpd process from the settings (for the service named by CYRUS_SERVICE, so
// `<service>_<option>` overrides apply) and shared read-only by its sessions.
//
// It holds: the networks TCP peers may connect from (lmtp_allow_networks; empty: any), the LMTP
// admins (`admins`, which `<service>_admins` overrides, e.g. `lmtp_admins` for the entry named
// lmtp), the process's libsasl2 (SaslLibrary), the TLS context for STARTTLS (null when
// tls_server_cert/tls_server_key are unset), and the AUTH rules (allowplaintext,
// sasl_minimum_layer, lmtp_max_auth_failures, lmtp_auth_failure_delay), and the table of AUTH
// failures per client address that every worker shares (auth_penalty_table.h; null when
// lmtp_auth_penalty_timeout is 0). load() fails on a setting
// that cannot be used (a bad network, an unreadable certificate): lmtpd then refuses to start
// rather than run less safely than configured.
#pragma once

#include <boost/asio/ssl.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/networks.h"
#include "auth/sasl.h"
#include "conf/result.h"
#include "conf/settings.h"
#include "server/lmtpd/auth_penalty_table.h"

namespace cubby::server {

struct AccessPolicy {
  static Result<std::unique_ptr<AccessPolicy>, std::string> load(const conf::Settings& settings);

  bool is_admin(std::string_view identity) const;
  // A new SASL conversation under this policy; null (and a log line) if libsasl2 refuses.
  std::unique_ptr<auth::SaslServer> sasl_server(const std::string& local,
                                                const std::string& remote) const;

  std::string servername;
  auth::NetworkList allowed_networks;
  std::vector<std::string> admins;
  std::unique_ptr<auth::SaslLibrary> sasl;
  std::unique_ptr<boost::asio::ssl::context> tls;  // null: STARTTLS is not offered
  bool allow_plaintext = false;
  unsigned min_ssf = 0;
  size_t max_auth_failures = 5;
  std::chrono::milliseconds auth_failure_delay{1000};
  std::unique_ptr<AuthPenaltyTable> penalties;  // null: no penalty per client address
};

}  // namespace cubby::server
