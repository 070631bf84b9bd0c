// Test fixtures for SASL (header-only, shared by tests/auth and tests/e2e): a real sasldb made
// with saslpasswd2, and a SASL client on libsasl2's client side that answers any mechanism the
// installed plugins implement (DIGEST-MD5, SCRAM-*, CRAM-MD5, PLAIN, LOGIN).
#pragma once

#include <sasl/sasl.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cubby::test {

template <typename F>
int (*as_callback(F* f))() {
  return reinterpret_cast<int (*)()>(reinterpret_cast<void (*)()>(f));
}

// Adds `user` with `password` in `realm` to the sasldb at `path` (created when missing) with
// `saslpasswd2 -p -f <path> -c -u <realm> <user>`. Returns what went wrong, or nullopt.
inline std::optional<std::string> add_sasl_user(const std::string& path, const std::string& realm,
                                                const std::string& user,
                                                const std::string& password) {
  const std::string command =
      "saslpasswd2 -p -f '" + path + "' -c -u '" + realm + "' '" + user + "' 2>&1";
  FILE* p = ::popen(command.c_str(), "w");
  if (!p) return "popen saslpasswd2: " + std::string(strerror(errno));
  std::fputs(password.c_str(), p);
  const int status = ::pclose(p);
  if (status != 0) return command + " failed (status " + std::to_string(status) + ")";
  return std::nullopt;
}

// One client conversation through libsasl2 (sasl_client_new with service "lmtp").
class LibSaslClient {
 public:
  LibSaslClient(std::string user, std::string password, std::string realm)
      : user_(std::move(user)), password_(std::move(password)), realm_(std::move(realm)) {
    static const int initialised = sasl_client_init(nullptr);
    init_status_ = initialised;
    secret_.reset(
        static_cast<sasl_secret_t*>(std::calloc(1, sizeof(sasl_secret_t) + password_.size() + 1)));
    secret_->len = password_.size();
    std::memcpy(secret_->data, password_.data(), password_.size());
    callbacks_[0] = {SASL_CB_AUTHNAME, as_callback(&simple), this};
    callbacks_[1] = {SASL_CB_USER, as_callback(&simple), this};
    callbacks_[2] = {SASL_CB_PASS, as_callback(&secret), this};
    callbacks_[3] = {SASL_CB_GETREALM, as_callback(&get_realm), this};
    callbacks_[4] = {SASL_CB_LIST_END, nullptr, nullptr};
  }
  ~LibSaslClient() {
    if (conn_) sasl_dispose(&conn_);
  }
  LibSaslClient(const LibSaslClient&) = delete;
  LibSaslClient& operator=(const LibSaslClient&) = delete;

  // Starts `mechanism` against `server`; *initial gets the initial response (nullopt: none).
  // Returns an error text or "".
  std::string start(const std::string& server, const std::string& mechanism,
                    std::optional<std::string>* initial) {
    if (init_status_ != SASL_OK) return "sasl_client_init failed";
    int status = sasl_client_new("lmtp", server.c_str(), nullptr, nullptr, callbacks_, 0, &conn_);
    if (status != SASL_OK) return "sasl_client_new: " + std::string(sasl_errstring(status, 0, 0));
    sasl_security_properties_t props{};
    props.max_ssf = 0;  // no security layer, as the server
    props.maxbufsize = 4096;
    sasl_setprop(conn_, SASL_SEC_PROPS, &props);
    const char* out = nullptr;
    unsigned len = 0;
    const char* chosen = nullptr;
    status = sasl_client_start(conn_, mechanism.c_str(), nullptr, &out, &len, &chosen);
    if (status != SASL_OK && status != SASL_CONTINUE) return "sasl_client_start: " + detail();
    if (out) {
      *initial = std::string(out, len);
    } else {
      initial->reset();
    }
    return "";
  }
  // Answers a server challenge; returns an error text or "".
  std::string step(std::string_view challenge, std::string* response) {
    const char* out = nullptr;
    unsigned len = 0;
    int status = sasl_client_step(conn_, challenge.data(), static_cast<unsigned>(challenge.size()),
                                  nullptr, &out, &len);
    if (status != SASL_OK && status != SASL_CONTINUE) return "sasl_client_step: " + detail();
    response->assign(out ? out : "", out ? len : 0);
    return "";
  }

 private:
  std::string detail() const { return conn_ ? sasl_errdetail(conn_) : "no connection"; }
  static int simple(void* context, int id, const char** result, unsigned* len) {
    auto* self = static_cast<LibSaslClient*>(context);
    // The authorisation identity is left empty: the same as the authentication identity.
    const std::string& value = id == SASL_CB_AUTHNAME ? self->user_ : self->empty_;
    *result = value.c_str();
    if (len) *len = static_cast<unsigned>(value.size());
    return SASL_OK;
  }
  static int secret(sasl_conn_t*, void* context, int, sasl_secret_t** out) {
    *out = static_cast<LibSaslClient*>(context)->secret_.get();
    return SASL_OK;
  }
  static int get_realm(void* context, int, const char**, const char** result) {
    *result = static_cast<LibSaslClient*>(context)->realm_.c_str();
    return SASL_OK;
  }

  struct FreeSecret {
    void operator()(sasl_secret_t* s) const { std::free(s); }
  };
  std::string user_, password_, realm_, empty_;
  std::unique_ptr<sasl_secret_t, FreeSecret> secret_;
  sasl_callback_t callbacks_[5];
  sasl_conn_t* conn_ = nullptr;
  int init_status_ = SASL_OK;
};

}  // namespace cubby::test
