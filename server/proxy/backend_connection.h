// BackendConnection: one LMTP connection from the front end to a back end, kept open across
// transactions (connection_cache.h), as Postfix's connection cache keeps its LMTP sessions.
//
// open() connects (forwarder.h's connect_backend), reads the 220 greeting, says LHLO once and
// notes the capabilities (AUTH, IGNOREQUOTA, 8BITMIME, SIZE). With `tls` (proxy_tls) it then says
// STARTTLS and runs the handshake (backend_tls.h), presenting the front end's client certificate
// when one is set, and says LHLO again; a back end that does not offer STARTTLS, refuses it or
// fails the handshake is not used (nothing is ever sent to it in the clear). After TLS, without
// SASL credentials, the back end must take the certificate as the front end's login (its LHLO then
// offers AUTH EXTERNAL only, engine.h): the front end confirms it with `AUTH EXTERNAL =`; a back
// end that still offers password mechanisms did not accept the certificate, and is not used.
// Then, when credentials are given, it authenticates with SASL (backend_sasl.h). transact() runs
// one transaction: RSET, MAIL FROM (with AUTH= and SIZE= when offered, BODY=8BITMIME when needed),
// one RCPT per recipient, and when one was accepted DATA, the dot-stuffed message and one reply per
// accepted recipient; commands are sent one at a time. Its Outcome gives one reply per recipient (a
// refused RCPT's reply, or the reply after the message) and says whether the connection failed and
// whether DATA had been sent when it did: a failure before DATA leaves the back end with nothing,
// so the forwarder may try the transaction again on a new connection; after it, the back end may
// have delivered, and it must not be sent again. A failed connection, or a back end that refused
// RSET or MAIL, is not reused. Destroying an open connection says QUIT without waiting for the
// answer. Blocking; used by one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/result.h"
#include "server/deliver/deliver_lmtp.h"
#include "server/deliver/deliver_message.h"
#include "server/lmtp/reply.h"

namespace cubby::proxy {

class BackendTls;

struct ConnectionSettings {
  std::string lhlo_name = "localhost";
  std::chrono::milliseconds timeout{300000};  // every wait on the back end
  std::chrono::milliseconds connect_timeout{10000};
  // SASL to the back end (proxy_authname, proxy_password); no AUTH when authname is empty.
  std::string authname;
  std::string password;
  // STARTTLS to the back end (proxy_tls, proxy_tls_*); null: plain LMTP.
  std::shared_ptr<const BackendTls> tls;
};

struct Transaction {
  std::string mail_from;  // without brackets, "" for <>
  std::string auth_id;    // MAIL AUTH=, "" for <>
  bool ignore_quota = false;
  std::vector<std::string> recipients;  // addresses without brackets
};

class BackendConnection {
 public:
  struct Outcome {
    std::vector<lmtp::Reply> replies;  // one per recipient, in order
    std::string failure;               // why the connection failed; "" when it did not
    bool data_sent = false;            // DATA was sent before it failed
  };

  static Result<std::unique_ptr<BackendConnection>, std::string> open(
      const std::string& address, const ConnectionSettings& settings);
  ~BackendConnection();
  BackendConnection(const BackendConnection&) = delete;
  BackendConnection& operator=(const BackendConnection&) = delete;

  Outcome transact(const Transaction& transaction, const deliver::SpooledMessage& message);

  // Fit to carry another transaction: nothing failed, and the back end has not closed its end or
  // said anything unasked (a 421 before closing) since the last reply.
  bool reusable();
  const std::string& address() const { return address_; }
  std::chrono::steady_clock::time_point last_used() const { return last_used_; }

 private:
  BackendConnection(std::string address, deliver::LmtpConnection connection);
  std::optional<lmtp::Reply> command(const std::string& line);
  // Says LHLO and notes the capabilities; the AUTH mechanisms offered, or why it failed.
  Result<std::string, std::string> hello(const std::string& lhlo_name);
  [[nodiscard]] std::optional<std::string> start_tls(const ConnectionSettings& settings);

  std::string address_;
  deliver::LmtpConnection connection_;
  bool auth_ = false, ignore_quota_ = false, eight_bit_mime_ = false, size_ = false;
  bool starttls_ = false;
  bool broken_ = false;
  std::chrono::steady_clock::time_point last_used_;
};

}  // namespace cubby::proxy
