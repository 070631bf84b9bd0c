// Tests of the engine's AUTH and STARTTLS dialogue (engine.h) against a small Authenticator that
// knows PLAIN and LOGIN over a table of users: replies, base64, challenges, cancel, the failure
// delay and limit, pre-authenticated EXTERNAL, and the state reset after STARTTLS.
#include <gtest/gtest.h>

#include <map>

#include "server/lmtp/base64.h"
#include "server/lmtp/engine.h"
#include "tests/lmtp/engine_test_backend.h"

namespace cubby::lmtp {
namespace {

using namespace std::chrono_literals;
using test::Harness;

// PLAIN (RFC 4616) and LOGIN over a table; only "admin" may authenticate, as an LMTP admin list
// would say.
class TableAuthenticator : public Authenticator {
 public:
  std::map<std::string, std::string> passwords = {{"admin", "secret"}, {"user", "secret"}};
  bool plain_offered = true;
  int cancelled = 0;
  std::vector<std::string> started;

  std::vector<std::string> mechanisms() override {
    if (plain_offered) return {"LOGIN", "PLAIN"};
    return {"CRAM-MD5"};
  }
  AuthStep start(std::string_view mechanism, std::optional<std::string_view> initial) override {
    started.emplace_back(mechanism);
    mechanism_ = mechanism;
    login_user_.reset();
    if (mechanism == "PLAIN") {
      if (!initial) return AuthStep::challenge("");
      return plain(*initial);
    }
    if (mechanism == "LOGIN") {
      if (initial) return step(*initial);
      return AuthStep::challenge("Username:");
    }
    return {AuthStep::Kind::kNoMechanism, ""};
  }
  AuthStep step(std::string_view response) override {
    if (mechanism_ == "PLAIN") return plain(response);
    if (!login_user_) {
      login_user_ = std::string(response);
      return AuthStep::challenge("Password:");
    }
    return check(*login_user_, response);
  }
  void cancel() override { ++cancelled; }

 private:
  AuthStep plain(std::string_view message) {
    const size_t a = message.find('\0');
    const size_t b = a == std::string_view::npos ? a : message.find('\0', a + 1);
    if (b == std::string_view::npos) return AuthStep::failure("malformed PLAIN message");
    return check(message.substr(a + 1, b - a - 1), message.substr(b + 1));
  }
  AuthStep check(std::string_view user, std::string_view password) {
    auto it = passwords.find(std::string(user));
    if (it == passwords.end() || it->second != password) return AuthStep::failure("bad password");
    if (user != "admin") return AuthStep::failure(std::string(user) + " is not an LMTP admin");
    return AuthStep::success(std::string(user));
  }
  std::string mechanism_;
  std::optional<std::string> login_user_;
};

std::string plain_ir(std::string_view user, std::string_view password) {
  return encode_base64(std::string("\0", 1) + std::string(user) + std::string("\0", 1) +
                       std::string(password));
}

// An engine on an unauthenticated TCP peer with the table authenticator, no failure delay.
struct TcpHarness : Harness {
  TableAuthenticator authenticator;
  TcpHarness() {
    peer.preauth = false;
    peer.client_host = "[192.0.2.1]";
    config.auth_failure_delay = 0ms;
  }
  std::string open(std::string session_id = "sid-1") {
    engine = std::make_unique<Engine>(config, peer, backend, std::move(session_id), &authenticator);
    engine->start();
    return engine->take_output();
  }
};

const std::string kOk = "235 2.7.0 Authentication successful\r\n";
const std::string kInvalid = "535 5.7.8 Authentication credentials invalid\r\n";

TEST(Base64, RoundTripAndStrictDecoding) {
  EXPECT_EQ(encode_base64(""), "");
  EXPECT_EQ(encode_base64("f"), "Zg==");
  EXPECT_EQ(encode_base64("fo"), "Zm8=");
  EXPECT_EQ(encode_base64("foo"), "Zm9v");
  EXPECT_EQ(decode_base64("Zg=="), "f");
  EXPECT_EQ(decode_base64("Zm8="), "fo");
  EXPECT_EQ(decode_base64("Zm9v"), "foo");
  EXPECT_EQ(decode_base64(""), "");
  EXPECT_EQ(decode_base64(std::string("AGEAYg==")), std::string("\0a\0b", 4));
  for (const char* bad : {"Zg", "Zg=", "Z===", "Zm 9v", "Zm9v\r", "Zm9*", "=Zm9", "Zg=a"}) {
    EXPECT_FALSE(decode_base64(bad)) << bad;
  }
}

TEST(EngineAuth, LhloListsTheAuthenticatorsMechanismsAndMailNeedsAuth) {
  TcpHarness h;
  h.open("sid");
  EXPECT_EQ(h.send("LHLO x\r\n"),
            "250-mail.example.com\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n"
            "250-SIZE 2147483647\r\n250-CHUNKING\r\n250-SMTPUTF8\r\n250-AUTH LOGIN PLAIN\r\n"
            "250-IGNOREQUOTA\r\n250 Ok SESSIONID=<sid>\r\n");
  EXPECT_EQ(h.send("MAIL FROM:<a@b>\r\n"), "430 4.7.0 Authentication required\r\n");
  h.authenticator.plain_offered = false;
  EXPECT_NE(h.send("LHLO x\r\n").find("250-AUTH CRAM-MD5\r\n"), std::string::npos);
}

TEST(EngineAuth, PlainWithInitialResponseThenDelivery) {
  TcpHarness h;
  h.open();
  EXPECT_EQ(h.send("AUTH PLAIN " + plain_ir("admin", "secret") + "\r\n"), kOk);
  EXPECT_EQ(h.engine->identity(), "admin");
  // No AUTH after success; a second AUTH is refused.
  EXPECT_EQ(h.send("LHLO x\r\n").find("AUTH"), std::string::npos);
  EXPECT_EQ(h.send("AUTH PLAIN " + plain_ir("admin", "secret") + "\r\n"),
            "503 5.5.1 Already authenticated\r\n");
  EXPECT_EQ(h.send("MAIL FROM:<a@b>\r\nRCPT TO:<alice@x>\r\nDATA\r\n"),
            "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n");
  h.send("Subject: x\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(h.deliver(), h.success_replies(1));
  EXPECT_NE(h.backend.last_message().find(" with LMTPA;\r\n"), std::string::npos)
      << h.backend.last_message();
}

TEST(EngineAuth, PlainWithEmptyChallengeAndLoginWithTwoChallenges) {
  TcpHarness h;
  h.open();
  EXPECT_EQ(h.send("auth plain\r\n"), "334 \r\n");
  EXPECT_EQ(h.authenticator.started.back(), "PLAIN") << "the mechanism is passed in upper case";
  EXPECT_EQ(h.send(plain_ir("admin", "secret") + "\r\n"), kOk);

  TcpHarness l;
  l.open();
  EXPECT_EQ(l.send("AUTH LOGIN\r\n"), "334 " + encode_base64("Username:") + "\r\n");
  EXPECT_EQ(l.send(encode_base64("admin") + "\r\n"), "334 " + encode_base64("Password:") + "\r\n");
  EXPECT_EQ(l.send(encode_base64("secret") + "\r\n"), kOk);
  // LOGIN with the user name as initial response.
  TcpHarness i;
  i.open();
  EXPECT_EQ(i.send("AUTH LOGIN " + encode_base64("admin") + "\r\n"),
            "334 " + encode_base64("Password:") + "\r\n");
  EXPECT_EQ(i.send(encode_base64("secret") + "\r\n"), kOk);
}

TEST(EngineAuth, WrongPasswordNonAdminAndRefusals) {
  TcpHarness h;
  h.open();
  EXPECT_EQ(h.send("AUTH PLAIN " + plain_ir("admin", "wrong") + "\r\n"), kInvalid);
  EXPECT_EQ(h.send("AUTH PLAIN " + plain_ir("user", "secret") + "\r\n"), kInvalid)
      << "a non-admin is refused like a wrong password";
  EXPECT_EQ(h.send("MAIL FROM:<a@b>\r\n"), "430 4.7.0 Authentication required\r\n");
  EXPECT_EQ(h.send("AUTH CRAM-MD5\r\n"), "504 5.5.4 Unrecognized authentication type\r\n");
  EXPECT_EQ(h.send("AUTH X-UNKNOWN =\r\n"), "504 5.5.4 Unrecognized authentication type\r\n");
  EXPECT_EQ(h.send("AUTH PLAIN not*base64\r\n"), "501 5.5.2 Cannot decode response\r\n");
  EXPECT_EQ(h.send("AUTH PLAIN a b\r\n"), "501 5.5.4 Syntax error in parameters\r\n");
  EXPECT_EQ(h.send("AUTH \r\n"), "501 5.5.4 Syntax error in parameters\r\n");
  EXPECT_EQ(h.send("AUTH PLAIN\r\n"), "334 \r\n");
  EXPECT_EQ(h.send("%%%\r\n"), "501 5.5.2 Cannot decode response\r\n");
  EXPECT_EQ(h.authenticator.cancelled, 1);
  EXPECT_EQ(h.send("NOOP\r\n"), "250 2.0.0 ok\r\n") << "back to commands";
}

TEST(EngineAuth, StarCancels) {
  TcpHarness h;
  h.open();
  EXPECT_EQ(h.send("AUTH LOGIN\r\n").substr(0, 4), "334 ");
  EXPECT_EQ(h.send("*\r\n"), "501 5.7.0 Authentication cancelled\r\n");
  EXPECT_EQ(h.authenticator.cancelled, 1);
  EXPECT_EQ(h.send("NOOP\r\n"), "250 2.0.0 ok\r\n");
}

TEST(EngineAuth, SoftNoauthOffAnswers530) {
  TcpHarness h;
  h.config.soft_noauth = false;
  h.open();
  EXPECT_EQ(h.send("MAIL FROM:<a@b>\r\n"), "530 5.7.0 Authentication required\r\n");
}

TEST(EngineAuth, AuthNotPermittedInsideATransaction) {
  Harness h;  // pre-authenticated: MAIL works at once
  h.open();
  h.send("MAIL FROM:<a@b>\r\n");
  EXPECT_EQ(h.send("AUTH EXTERNAL =\r\n"),
            "503 5.5.1 AUTH not permitted during a mail transaction\r\n");
}

TEST(EngineAuth, PreauthenticatedPeerMayUseExternalOnly) {
  Harness h;
  h.config.auth_failure_delay = 0ms;
  h.open();
  EXPECT_EQ(h.engine->identity(), "postman");
  EXPECT_EQ(h.send("AUTH PLAIN " + plain_ir("admin", "secret") + "\r\n"),
            "504 5.5.4 Unrecognized authentication type\r\n");
  EXPECT_EQ(h.send("AUTH EXTERNAL " + encode_base64("someone") + "\r\n"), kInvalid);
  EXPECT_EQ(h.send("AUTH EXTERNAL\r\n"), "334 \r\n");
  EXPECT_EQ(h.send("\r\n"), kOk);
  EXPECT_EQ(h.send("LHLO x\r\n").find("AUTH"), std::string::npos);

  Harness named;
  named.open();
  EXPECT_EQ(named.send("AUTH EXTERNAL " + encode_base64("postman") + "\r\n"), kOk);
  Harness empty;
  empty.open();
  EXPECT_EQ(empty.send("AUTH EXTERNAL =\r\n"), kOk);
}

TEST(EngineAuth, FailuresAreDelayedProgressivelyAndTheLastOneCloses) {
  TcpHarness h;
  h.config.auth_failure_delay = 1000ms;
  h.config.max_auth_failures = 3;
  h.open();
  const std::string bad = "AUTH PLAIN " + plain_ir("admin", "wrong") + "\r\n";
  EXPECT_EQ(h.send(bad + "NOOP\r\n"), "") << "nothing is answered before the delay";
  ASSERT_TRUE(h.engine->auth_delay());
  EXPECT_EQ(*h.engine->auth_delay(), 1000ms);
  EXPECT_EQ(h.send("NOOP\r\n"), "") << "input waits while the delay runs";
  h.engine->auth_delay_over();
  EXPECT_EQ(h.engine->take_output(), kInvalid + "250 2.0.0 ok\r\n250 2.0.0 ok\r\n");
  EXPECT_FALSE(h.engine->auth_delay());

  EXPECT_EQ(h.send(bad), "");
  EXPECT_EQ(*h.engine->auth_delay(), 2000ms);
  h.engine->auth_delay_over();
  EXPECT_EQ(h.engine->take_output(), kInvalid);
  // Success in between does not happen; the third failure ends the session.
  EXPECT_EQ(h.send(bad), "");
  EXPECT_EQ(*h.engine->auth_delay(), 4000ms);
  h.engine->auth_delay_over();
  EXPECT_EQ(h.engine->take_output(), "421 4.7.0 Too many authentication failures\r\n");
  EXPECT_TRUE(h.engine->closed());
}

TEST(EngineAuth, DelayIsCapped) {
  TcpHarness h;
  h.config.auth_failure_delay = 20000ms;
  h.config.max_auth_failures = 10;
  h.open();
  h.send("AUTH PLAIN " + plain_ir("x", "y") + "\r\n");
  h.engine->auth_delay_over();
  h.send("AUTH PLAIN " + plain_ir("x", "y") + "\r\n");
  EXPECT_EQ(*h.engine->auth_delay(), kMaxAuthDelay);
}

TEST(EngineAuth, LongAuthLinesAreAcceptedUpToTheAuthLimit) {
  TcpHarness h;
  h.config.max_command_line = 512;
  h.open();
  // A 9000-byte response is legal for AUTH, not for other commands.
  const std::string big(9000, 'A');
  EXPECT_EQ(h.send("AUTH PLAIN " + big + "\r\n"), kInvalid);
  EXPECT_EQ(h.send("AUTH PLAIN\r\n"), "334 \r\n");
  EXPECT_EQ(h.send(big + "\r\n"), kInvalid);
  EXPECT_EQ(h.send("NOOP " + big + "\r\n"), "500 5.5.2 Line too long\r\n");
  EXPECT_EQ(h.send("AUTH PLAIN\r\n"), "334 \r\n");
  EXPECT_EQ(h.send(std::string(kMaxAuthLine, 'A') + "\r\n"), "500 5.5.2 Line too long\r\n");
  EXPECT_EQ(h.send("NOOP\r\n"), "250 2.0.0 ok\r\n");
}

TEST(EngineStarttls, OfferedOnlyWhenConfiguredToAnUnauthenticatedPeer) {
  TcpHarness h;
  h.config.starttls = true;
  h.open();
  EXPECT_NE(h.send("LHLO x\r\n").find("250-SMTPUTF8\r\n250-STARTTLS\r\n250-AUTH LOGIN PLAIN\r\n"),
            std::string::npos);

  TcpHarness off;
  off.open();
  EXPECT_EQ(off.send("LHLO x\r\n").find("STARTTLS"), std::string::npos);
  EXPECT_EQ(off.send("STARTTLS\r\n"), "500 5.5.2 Syntax error\r\n");

  Harness preauth;
  preauth.config.starttls = true;
  preauth.open();
  EXPECT_EQ(preauth.send("LHLO x\r\n").find("STARTTLS"), std::string::npos);
  EXPECT_EQ(preauth.send("STARTTLS\r\n"), "500 5.5.2 Syntax error\r\n");

  TcpHarness authed;
  authed.config.starttls = true;
  authed.open();
  authed.send("AUTH PLAIN " + plain_ir("admin", "secret") + "\r\n");
  EXPECT_EQ(authed.send("LHLO x\r\n").find("STARTTLS"), std::string::npos);
  EXPECT_EQ(authed.send("STARTTLS\r\n"),
            "503 5.5.1 STARTTLS not permitted after authentication\r\n");
}

TEST(EngineStarttls, PipelinedInputIsDiscardedAndTheSessionIsReset) {
  TcpHarness h;
  h.config.starttls = true;
  h.open("sid-plain");
  h.send("LHLO plain.example\r\n");
  // A command injected behind STARTTLS must never run, neither now nor after the handshake.
  EXPECT_EQ(h.send("STARTTLS\r\nAUTH PLAIN " + plain_ir("admin", "secret") + "\r\nNOOP\r\n"),
            "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_TRUE(h.engine->tls_requested());
  EXPECT_EQ(h.send("NOOP\r\n"), "") << "nothing is read in the clear after the 220";
  EXPECT_TRUE(h.authenticator.started.empty());

  TlsSummary tls{"TLSv1.3", "TLS_AES_256_GCM_SHA384", 256, 256, false};
  h.engine->tls_started(tls, std::nullopt);
  EXPECT_FALSE(h.engine->tls_requested());
  EXPECT_NE(h.engine->session_id(), "sid-plain") << "a new session id after STARTTLS";
  EXPECT_EQ(h.send("NOOP\r\n"), "250 2.0.0 ok\r\n");
  const std::string lhlo = h.send("LHLO tls.example\r\n");
  EXPECT_EQ(lhlo.find("STARTTLS"), std::string::npos);
  EXPECT_NE(lhlo.find("250-AUTH LOGIN PLAIN\r\n"), std::string::npos);
  EXPECT_EQ(h.send("STARTTLS\r\n"), "454 4.3.3 Already successfully executed STARTTLS\r\n");
  EXPECT_EQ(h.send("AUTH PLAIN " + plain_ir("admin", "secret") + "\r\n"), kOk);
  h.send("MAIL FROM:<a@b>\r\nRCPT TO:<alice@x>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n");
  h.deliver();
  EXPECT_NE(h.backend.last_message().find(
                "Received: from tls.example ([192.0.2.1])\r\n\t by mail.example.com (Cubby "),
            std::string::npos)
      << "the LHLO given before STARTTLS is forgotten: " << h.backend.last_message();
  EXPECT_NE(h.backend.last_message().find(
                " with LMTPSA\r\n\t (version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256 "
                "verify=NO);\r\n\t "),
            std::string::npos)
      << h.backend.last_message();
}

TEST(EngineStarttls, ClientCertificateIdentityAuthenticates) {
  TcpHarness c;
  c.config.starttls = true;
  c.open();
  EXPECT_EQ(c.send("STARTTLS\r\n"), "220 2.0.0 Ready to start TLS\r\n");
  c.engine->tls_started(TlsSummary{"TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", 128, 128, true},
                        std::string("postman"));
  EXPECT_EQ(c.engine->identity(), "postman");
  const std::string lhlo = c.send("LHLO x\r\n");
  EXPECT_NE(lhlo.find("250-AUTH EXTERNAL\r\n"), std::string::npos) << lhlo;
  EXPECT_EQ(c.send("MAIL FROM:<a@b>\r\n"), "250 2.1.0 ok\r\n") << "the certificate authenticates";
  EXPECT_EQ(c.send("AUTH EXTERNAL =\r\n"),
            "503 5.5.1 AUTH not permitted during a mail transaction\r\n");
  c.send("RCPT TO:<alice@x>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n");
  c.deliver();
  EXPECT_NE(c.backend.last_message().find(" with LMTPSA\r\n\t (version=TLSv1.2 cipher="
                                          "ECDHE-RSA-AES128-GCM-SHA256 bits=128/128 verify=YES);"),
            std::string::npos)
      << c.backend.last_message();
}

TEST(EngineStarttls, RefusedBeforeAuthenticationIsOnlyTheMail) {
  TcpHarness t;
  t.config.starttls = true;
  t.open();
  // An unauthenticated peer cannot open a transaction; a pipelined MAIL does not block STARTTLS.
  EXPECT_EQ(t.send("MAIL FROM:<a@b>\r\nSTARTTLS\r\n"),
            "430 4.7.0 Authentication required\r\n220 2.0.0 Ready to start TLS\r\n");
}

// A penalty that records what the engine tells it and makes attempts wait `wait` when set.
struct RecordingPenalty : AuthPenalty {
  std::chrono::milliseconds wait{0};
  int admitted = 0, failures = 0, successes = 0;
  std::chrono::milliseconds admit() override {
    ++admitted;
    return wait;
  }
  void failed() override { ++failures; }
  void succeeded() override { ++successes; }
};

struct PenaltyHarness : TcpHarness {
  RecordingPenalty penalty;
  std::string open() {
    engine = std::make_unique<Engine>(config, peer, backend, "sid-1", &authenticator, &penalty);
    engine->start();
    return engine->take_output();
  }
};

TEST(EngineAuthPenalty, FailuresAndSuccessAreReportedToTheAddressPenalty) {
  PenaltyHarness h;
  h.open();
  EXPECT_EQ(h.send("AUTH PLAIN " + plain_ir("admin", "wrong") + "\r\n"), kInvalid);
  EXPECT_EQ(h.penalty.admitted, 1);
  EXPECT_EQ(h.penalty.failures, 1);
  // Refused before any check (unknown mechanism, bad base64): no attempt, no turn taken.
  h.send("AUTH CRAM-MD5\r\n");
  h.send("AUTH PLAIN !!!\r\n");
  EXPECT_EQ(h.penalty.admitted, 1);
  EXPECT_EQ(h.send("AUTH PLAIN " + plain_ir("admin", "secret") + "\r\n"), kOk);
  EXPECT_EQ(h.penalty.successes, 1);
  EXPECT_EQ(h.penalty.failures, 1);
}

TEST(EngineAuthPenalty, AnAttemptWaitsItsTurnBeforeItIsChecked) {
  PenaltyHarness h;
  h.penalty.wait = 1500ms;
  h.open();
  EXPECT_EQ(h.send("AUTH PLAIN " + plain_ir("admin", "secret") + "\r\nNOOP\r\n"), "");
  EXPECT_TRUE(h.authenticator.started.empty()) << "checked before its turn";
  ASSERT_TRUE(h.engine->auth_delay());
  EXPECT_EQ(*h.engine->auth_delay(), 1500ms);
  EXPECT_EQ(h.send("NOOP\r\n"), "") << "input is held meanwhile";
  h.engine->auth_delay_over();
  EXPECT_EQ(h.engine->take_output(), kOk + "250 2.0.0 ok\r\n250 2.0.0 ok\r\n");
  EXPECT_EQ(h.penalty.admitted, 1) << "admitted once, not again when its turn came";
  EXPECT_EQ(h.penalty.successes, 1);
}

TEST(EngineAuthPenalty, AHeldAttemptThatFailsIsAnsweredAfterItsOwnDelayToo) {
  PenaltyHarness h;
  h.config.auth_failure_delay = 100ms;
  h.penalty.wait = 200ms;
  h.open();
  EXPECT_EQ(h.send("AUTH PLAIN " + plain_ir("admin", "wrong") + "\r\n"), "");
  EXPECT_EQ(*h.engine->auth_delay(), 200ms);
  h.engine->auth_delay_over();
  EXPECT_EQ(h.engine->take_output(), "");
  EXPECT_EQ(h.penalty.failures, 1);
  ASSERT_TRUE(h.engine->auth_delay());
  EXPECT_EQ(*h.engine->auth_delay(), 100ms);
  h.engine->auth_delay_over();
  EXPECT_EQ(h.engine->take_output(), kInvalid);
}

TEST(EngineAuthPenalty, PreauthenticatedExternalNeverTouchesThePenalty) {
  Harness h;
  RecordingPenalty penalty;
  h.engine = std::make_unique<Engine>(h.config, h.peer, h.backend, "sid", nullptr, &penalty);
  h.engine->start();
  h.engine->take_output();
  EXPECT_EQ(h.send("AUTH EXTERNAL =\r\n"), kOk);
  EXPECT_EQ(penalty.admitted + penalty.failures + penalty.successes, 0);
}

}  // namespace
}  // namespace cubby::lmtp
