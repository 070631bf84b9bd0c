// Authenticator: the SASL exchange behind the LMTP AUTH command, as the engine sees it.
//
// The engine (engine.h) does the protocol around it: base64 on the wire, `334` challenges, `*`
// cancels, the 235/535/504 replies, the failure count and delay. An Authenticator only runs one
// mechanism at a time on raw (decoded) bytes and says how each step ended. The server implements it
// over libsasl2 (server/lmtpd/sasl_authenticator.h); tests use a small table of users.
//
// start() begins an exchange with an upper-case mechanism name taken from mechanisms(); step()
// continues it with the client's next response. After a kSuccess or kFailure result the exchange
// is over; cancel() abandons one in progress (the client sent `*`). Calls never throw: a failure of
// the mechanism, of the password check or of the policy (the identity is not an LMTP admin) is a
// kFailure whose `text` says why for the log, never for the peer.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cubby::lmtp {

struct AuthStep {
  enum class Kind {
    kChallenge,    // send `text` (raw bytes) as a 334 challenge and wait for a response
    kSuccess,      // authenticated; `text` is the identity
    kFailure,      // refused; `text` says why (for the log)
    kNoMechanism,  // the mechanism is not available to this peer (504)
  };
  Kind kind = Kind::kFailure;
  std::string text;

  static AuthStep challenge(std::string bytes) { return {Kind::kChallenge, std::move(bytes)}; }
  static AuthStep success(std::string identity) { return {Kind::kSuccess, std::move(identity)}; }
  static AuthStep failure(std::string why) { return {Kind::kFailure, std::move(why)}; }
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // The mechanisms this peer may use now (upper case), in the order to advertise them; empty when
  // none (AUTH is then not advertised).
  virtual std::vector<std::string> mechanisms() = 0;
  // `initial` is the decoded initial response of `AUTH <mech> <ir>`, nullopt when none was given
  // (an empty one, `=`, is an empty string).
  virtual AuthStep start(std::string_view mechanism, std::optional<std::string_view> initial) = 0;
  virtual AuthStep step(std::string_view response) = 0;
  virtual void cancel() = 0;
};

}  // namespace cubby::lmtp
