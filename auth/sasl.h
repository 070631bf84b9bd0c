// SASL on the real Cyrus SASL library (libsasl2): the process-wide library and one server
// conversation per connection.
//
// SaslLibrary::init() calls sasl_server_init once per process with a getopt callback that answers
// libsasl2's option lookups from the settings, as Cyrus does: for option <o> of plugin <p> the keys
// `sasl_<p>_<o>` then `sasl_<o>`, each with its `<service>_` override (Settings::sasl_option). So
// `sasl_pwcheck_method`, `sasl_mech_list`, `sasl_auxprop_plugin`, `sasl_sasldb_path` and any other
// libsasl2 option work as in imapd.conf. libsasl2's own log lines go to Cubby's log. The library
// keeps a copy of the settings; at most one SaslLibrary may exist at a time.
//
// SaslServer is one sasl_conn_t (service "lmtp"), owned and disposed of by the object. Its policy
// is fixed when it is opened:
//  - only identities listed in `admins` may authenticate (libsasl2's proxy-policy callback);
//    anyone else fails with SASL_BADAUTH, and refused_identity() names them;
//  - anonymous mechanisms are never offered; plaintext ones (PLAIN, LOGIN) only when
//    `allow_plaintext`, or once set_external() reports a TLS layer stronger than 1 (libsasl2's
//    noplaintext rule);
//  - `min_ssf` (sasl_minimum_layer) must be met by TLS: Cubby negotiates no SASL security layer
//    (max_ssf 0), so the bytes on the wire are never wrapped by SASL.
// Results are values: a step either continues with a challenge, succeeds with the authentication
// identity, fails with libsasl2's detail (for the log), or finds no such mechanism.
#pragma once

#include <sasl/sasl.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.h"
#include "conf/settings.h"

namespace cubby::auth {

class SaslLibrary {
 public:
  static Result<std::unique_ptr<SaslLibrary>, std::string> init(const conf::Settings& settings);
  ~SaslLibrary();
  SaslLibrary(const SaslLibrary&) = delete;
  SaslLibrary& operator=(const SaslLibrary&) = delete;

  // The value libsasl2 gets for `option` of `plugin` (null for none); stable for the library's
  // life, as libsasl2 requires.
  const std::string* option(const char* plugin, const char* option);

 private:
  explicit SaslLibrary(const conf::Settings& settings) : settings_(settings) {}
  conf::Settings settings_;
  std::mutex mutex_;
  std::map<std::string, std::optional<std::string>> answers_;
  sasl_callback_t callbacks_[3];
};

struct SaslPolicy {
  std::vector<std::string> admins;  // identities that may authenticate
  bool allow_plaintext = false;     // offer PLAIN and LOGIN without TLS
  unsigned min_ssf = 0;             // sasl_minimum_layer
};

struct SaslStep {
  enum class Kind { kContinue, kSuccess, kFailure, kNoMechanism };
  Kind kind = Kind::kFailure;
  std::string data;  // kContinue: the challenge; kSuccess: the identity; kFailure: why
};

class SaslServer {
 public:
  // `local` and `remote` are "ip;port" (libsasl2's form), or "" for none.
  static Result<std::unique_ptr<SaslServer>, std::string> open(const SaslLibrary& library,
                                                               const std::string& servername,
                                                               const std::string& local,
                                                               const std::string& remote,
                                                               SaslPolicy policy);
  ~SaslServer();
  SaslServer(const SaslServer&) = delete;
  SaslServer& operator=(const SaslServer&) = delete;

  // The mechanisms on offer now, upper case, as sasl_listmech orders them.
  std::vector<std::string> mechanisms() const;
  SaslStep start(std::string_view mechanism, std::optional<std::string_view> initial);
  SaslStep step(std::string_view response);

  // TLS is up: its strength in bits, and the identity a client certificate vouches for (null:
  // none). Makes plaintext mechanisms available and offers EXTERNAL when `auth_id` is set.
  bool set_external(unsigned ssf, const std::string* auth_id);

  // The identity the last failed attempt authenticated as but that is not an admin; "" if the
  // failure was something else.
  const std::string& refused_identity() const { return refused_; }

 private:
  explicit SaslServer(SaslPolicy policy) : policy_(std::move(policy)) {}
  SaslStep result(int status, const char* out, unsigned out_len);
  static int authorize(sasl_conn_t* conn, void* context, const char* requested, unsigned rlen,
                       const char* auth_identity, unsigned alen, const char* realm, unsigned ulen,
                       struct propctx* props);

  SaslPolicy policy_;
  sasl_conn_t* conn_ = nullptr;
  sasl_callback_t callbacks_[2];
  std::string refused_;
};

}  // namespace cubby::auth
