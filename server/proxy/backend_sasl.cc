// SASL from the front end to a back end through libsasl2's client; see backend_sasl.h.
#include "server/proxy/backend_sasl.h"

#include <sasl/sasl.h>
#include <strings.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "server/lmtp/base64.h"

namespace cubby::proxy {
namespace {

// The callbacks' context: who we are.
struct Credentials {
  std::string authname;
  std::string empty;
  sasl_secret_t* secret = nullptr;
};

int name_callback(void* context, int id, const char** result, unsigned* len) {
  auto* c = static_cast<Credentials*>(context);
  // No authorisation identity: the same as the authentication identity.
  const std::string& value = id == SASL_CB_AUTHNAME ? c->authname : c->empty;
  *result = value.c_str();
  if (len) *len = static_cast<unsigned>(value.size());
  return SASL_OK;
}

int secret_callback(sasl_conn_t*, void* context, int, sasl_secret_t** secret) {
  *secret = static_cast<Credentials*>(context)->secret;
  return SASL_OK;
}

int realm_callback(void*, int, const char** available, const char** result) {
  *result = available && *available ? *available : "";
  return SASL_OK;
}

template <typename F>
int (*as_callback(F* f))() {
  return reinterpret_cast<int (*)()>(reinterpret_cast<void (*)()>(f));
}

// The host part of a back end's address, for libsasl2's service principal.
std::string host_of(const std::string& backend) {
  if (backend.rfind("unix:", 0) == 0 || (!backend.empty() && backend[0] == '/')) return "localhost";
  if (!backend.empty() && backend[0] == '[') return backend.substr(1, backend.find(']') - 1);
  return backend.substr(0, backend.rfind(':'));
}

// The offered mechanisms that work with a name and a password alone (not GSSAPI, EXTERNAL,
// ANONYMOUS, ...), blank-separated, for libsasl2 to choose among.
std::string password_mechanisms(const std::string& offered) {
  static const char* const kUsable[] = {
      "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "CRAM-MD5", "PLAIN", "LOGIN"};
  std::string usable;
  size_t at = 0;
  while (at < offered.size()) {
    const size_t end = std::min(offered.find(' ', at), offered.size());
    const std::string word = offered.substr(at, end - at);
    for (const char* m : kUsable) {
      if (strcasecmp(word.c_str(), m) == 0) usable += (usable.empty() ? "" : " ") + word;
    }
    at = end + 1;
  }
  return usable;
}

}  // namespace

std::optional<std::string> authenticate(deliver::LmtpConnection& connection,
                                        const std::string& backend, const std::string& mechanisms,
                                        const std::string& authname, const std::string& password) {
  const std::string usable = password_mechanisms(mechanisms);
  // A back end that takes the front end as pre-authenticated offers only EXTERNAL (or no AUTH at
  // all): there is nothing to log in to. One that wants a login and offers no mechanism for it
  // refuses MAIL, which the recipients then hear.
  if (usable.empty()) return std::nullopt;
  static const int initialised = sasl_client_init(nullptr);
  if (initialised != SASL_OK) return std::string("sasl_client_init failed");

  Credentials credentials{authname, "", nullptr};
  std::unique_ptr<sasl_secret_t, decltype(&std::free)> secret(
      static_cast<sasl_secret_t*>(std::calloc(1, sizeof(sasl_secret_t) + password.size() + 1)),
      &std::free);
  if (!secret) return std::string("out of memory");
  secret->len = password.size();
  std::memcpy(secret->data, password.data(), password.size());
  credentials.secret = secret.get();
  sasl_callback_t callbacks[] = {
      {SASL_CB_AUTHNAME, as_callback(&name_callback), &credentials},
      {SASL_CB_USER, as_callback(&name_callback), &credentials},
      {SASL_CB_PASS, as_callback(&secret_callback), &credentials},
      {SASL_CB_GETREALM, as_callback(&realm_callback), &credentials},
      {SASL_CB_LIST_END, nullptr, nullptr},
  };
  sasl_conn_t* raw = nullptr;
  int status =
      sasl_client_new("lmtp", host_of(backend).c_str(), nullptr, nullptr, callbacks, 0, &raw);
  std::unique_ptr<sasl_conn_t, void (*)(sasl_conn_t*)> conn(raw, [](sasl_conn_t* c) {
    if (c) sasl_dispose(&c);
  });
  if (status != SASL_OK) return "sasl_client_new: " + std::string(sasl_errstring(status, 0, 0));
  sasl_security_properties_t props{};
  props.max_ssf = 0;  // no security layer
  props.maxbufsize = 4096;
  (void)sasl_setprop(conn.get(), SASL_SEC_PROPS, &props);

  const char* out = nullptr;
  unsigned len = 0;
  const char* chosen = nullptr;
  status = sasl_client_start(conn.get(), usable.c_str(), nullptr, &out, &len, &chosen);
  if (status != SASL_OK && status != SASL_CONTINUE) {
    return "no usable mechanism among " + mechanisms + ": " + sasl_errdetail(conn.get());
  }
  std::string line = std::string("AUTH ") + chosen;
  if (out != nullptr) line += " " + (len == 0 ? std::string("=") : lmtp::encode_base64({out, len}));
  if (!connection.send_command(line)) return connection.error();
  for (int round = 0; round < 20; ++round) {
    auto reply = connection.read_reply();
    if (!reply.ok()) return reply.error();
    if (reply->code == 235) return std::nullopt;
    if (reply->code != 334) {
      return std::string(chosen) + " as " + authname + ": " + deliver::reply_text(*reply);
    }
    auto challenge = lmtp::decode_base64(reply->text);
    if (!challenge) {
      (void)connection.send_command("*");
      return std::string("a challenge that is not base64");
    }
    status = sasl_client_step(conn.get(), challenge->data(),
                              static_cast<unsigned>(challenge->size()), nullptr, &out, &len);
    if (status != SASL_OK && status != SASL_CONTINUE) {
      (void)connection.send_command("*");
      (void)connection.read_reply();
      return "sasl_client_step: " + std::string(sasl_errdetail(conn.get()));
    }
    if (!connection.send_command(out ? lmtp::encode_base64({out, len}) : "")) {
      return connection.error();
    }
  }
  return std::string("too many SASL rounds");
}

}  // namespace cubby::proxy
