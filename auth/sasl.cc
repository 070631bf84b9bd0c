// libsasl2's server side behind Cubby's policy; see sasl.h.
#include "auth/sasl.h"

#include <algorithm>

#include "conf/log.h"
#include "conf/values.h"

namespace cubby::auth {
namespace {

SaslLibrary* g_library = nullptr;

// libsasl2 stores every callback as int (*)(); the detour through void (*)() says the cast is
// meant (libsasl2 calls each with its real type).
template <typename F>
int (*as_callback(F* f))() {
  return reinterpret_cast<int (*)()>(reinterpret_cast<void (*)()>(f));
}  // the getopt callback's context; one library per process

int getopt_callback(void* context, const char* plugin, const char* option, const char** result,
                    unsigned* len) {
  auto* library = static_cast<SaslLibrary*>(context);
  const std::string* value = library->option(plugin, option);
  if (!value) return SASL_FAIL;
  *result = value->c_str();
  if (len) *len = static_cast<unsigned>(value->size());
  return SASL_OK;
}

int log_callback(void*, int level, const char* message) {
  switch (level) {
    case SASL_LOG_NONE:
      break;
    case SASL_LOG_ERR:
      CUBBY_LOG_ERR("sasl: %s", message);
      break;
    case SASL_LOG_FAIL:
    case SASL_LOG_WARN:
      CUBBY_LOG_NOTICE("sasl: %s", message);
      break;
    default:
      CUBBY_LOG_DEBUG("sasl: %s", message);
      break;
  }
  return SASL_OK;
}

std::string sasl_text(int status) { return sasl_errstring(status, nullptr, nullptr); }

}  // namespace

Result<std::unique_ptr<SaslLibrary>, std::string> SaslLibrary::init(
    const conf::Settings& settings) {
  if (g_library) return fail(std::string("libsasl2 is already initialised in this process"));
  std::unique_ptr<SaslLibrary> library(new SaslLibrary(settings));
  library->callbacks_[0] = {SASL_CB_GETOPT, as_callback(&getopt_callback), library.get()};
  library->callbacks_[1] = {SASL_CB_LOG, as_callback(&log_callback), nullptr};
  library->callbacks_[2] = {SASL_CB_LIST_END, nullptr, nullptr};
  const int status = sasl_server_init(library->callbacks_, "Cubby");
  if (status != SASL_OK) return fail("sasl_server_init: " + sasl_text(status));
  g_library = library.get();
  return library;
}

SaslLibrary::~SaslLibrary() {
  sasl_server_done();
  g_library = nullptr;
}

const std::string* SaslLibrary::option(const char* plugin, const char* option) {
  if (!option) return nullptr;
  std::lock_guard lock(mutex_);
  std::vector<std::string> keys;  // settings keys are lower case; plugin names may not be
  if (plugin && *plugin) keys.push_back(conf::lower(std::string(plugin) + "_" + option));
  keys.push_back(conf::lower(option));
  for (const std::string& key : keys) {
    // The first answer is kept: libsasl2 may hold on to the pointer.
    auto [it, inserted] = answers_.try_emplace(key);
    if (inserted) it->second = settings_.sasl_option(key);
    if (it->second) return &*it->second;
  }
  return nullptr;
}

Result<std::unique_ptr<SaslServer>, std::string> SaslServer::open(const SaslLibrary&,
                                                                  const std::string& servername,
                                                                  const std::string& local,
                                                                  const std::string& remote,
                                                                  SaslPolicy policy) {
  std::unique_ptr<SaslServer> server(new SaslServer(std::move(policy)));
  server->callbacks_[0] = {SASL_CB_PROXY_POLICY, as_callback(&SaslServer::authorize), server.get()};
  server->callbacks_[1] = {SASL_CB_LIST_END, nullptr, nullptr};
  int status = sasl_server_new(
      "lmtp", servername.c_str(), nullptr, local.empty() ? nullptr : local.c_str(),
      remote.empty() ? nullptr : remote.c_str(), server->callbacks_, 0, &server->conn_);
  if (status != SASL_OK) return fail("sasl_server_new: " + sasl_text(status));

  sasl_security_properties_t props{};
  props.min_ssf = server->policy_.min_ssf;
  props.max_ssf = 0;  // no SASL security layer: TLS protects the connection
  props.maxbufsize = 4096;
  props.security_flags = SASL_SEC_NOANONYMOUS;
  if (!server->policy_.allow_plaintext) props.security_flags |= SASL_SEC_NOPLAINTEXT;
  status = sasl_setprop(server->conn_, SASL_SEC_PROPS, &props);
  if (status != SASL_OK) return fail("sasl_setprop(SASL_SEC_PROPS): " + sasl_text(status));
  return server;
}

SaslServer::~SaslServer() {
  if (conn_) sasl_dispose(&conn_);
}

std::vector<std::string> SaslServer::mechanisms() const {
  const char* list = nullptr;
  unsigned len = 0;
  int count = 0;
  std::vector<std::string> out;
  if (sasl_listmech(conn_, nullptr, "", " ", "", &list, &len, &count) != SASL_OK || !list) {
    return out;
  }
  std::string_view rest(list, len);
  while (!rest.empty()) {
    const size_t space = rest.find(' ');
    std::string_view name = rest.substr(0, space);
    if (!name.empty()) out.emplace_back(name);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
  }
  return out;
}

SaslStep SaslServer::start(std::string_view mechanism, std::optional<std::string_view> initial) {
  refused_.clear();
  const std::string name(mechanism);
  const char* out = nullptr;
  unsigned out_len = 0;
  const int status =
      sasl_server_start(conn_, name.c_str(), initial ? initial->data() : nullptr,
                        initial ? static_cast<unsigned>(initial->size()) : 0, &out, &out_len);
  return result(status, out, out_len);
}

SaslStep SaslServer::step(std::string_view response) {
  const char* out = nullptr;
  unsigned out_len = 0;
  const int status = sasl_server_step(conn_, response.data(),
                                      static_cast<unsigned>(response.size()), &out, &out_len);
  return result(status, out, out_len);
}

SaslStep SaslServer::result(int status, const char* out, unsigned out_len) {
  switch (status) {
    case SASL_CONTINUE:
      return {SaslStep::Kind::kContinue, std::string(out ? out : "", out ? out_len : 0)};
    case SASL_OK: {
      const void* user = nullptr;
      if (sasl_getprop(conn_, SASL_AUTHUSER, &user) != SASL_OK || !user) {
        return {SaslStep::Kind::kFailure, "no authentication identity after success"};
      }
      return {SaslStep::Kind::kSuccess, static_cast<const char*>(user)};
    }
    case SASL_NOMECH:   // not installed, or not in sasl_mech_list
    case SASL_TOOWEAK:  // plaintext without TLS, or below sasl_minimum_layer
    case SASL_ENCRYPT:
      return {SaslStep::Kind::kNoMechanism, sasl_errdetail(conn_)};
    default:
      return {SaslStep::Kind::kFailure, sasl_errdetail(conn_)};
  }
}

bool SaslServer::set_external(unsigned ssf, const std::string* auth_id) {
  sasl_ssf_t value = ssf;
  if (sasl_setprop(conn_, SASL_SSF_EXTERNAL, &value) != SASL_OK) return false;
  return sasl_setprop(conn_, SASL_AUTH_EXTERNAL, auth_id ? auth_id->c_str() : nullptr) == SASL_OK;
}

int SaslServer::authorize(sasl_conn_t* conn, void* context, const char*, unsigned,
                          const char* auth_identity, unsigned alen, const char*, unsigned,
                          struct propctx*) {
  auto* self = static_cast<SaslServer*>(context);
  const std::string identity(auth_identity ? auth_identity : "", auth_identity ? alen : 0);
  const auto& admins = self->policy_.admins;
  if (std::find(admins.begin(), admins.end(), identity) != admins.end()) {
    // As Cyrus: an admin may name another authorisation identity; it is not used for delivery.
    return SASL_OK;
  }
  self->refused_ = identity;
  sasl_seterror(conn, SASL_NOLOG, "%s is not an LMTP admin", identity.c_str());
  return SASL_BADAUTH;
}

}  // namespace cubby::auth
