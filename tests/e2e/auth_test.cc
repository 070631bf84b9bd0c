// End-to-end tests of authentication and transport security (issue 3) on the real master and
// lmtpd: SASL against a sasldb made with saslpasswd2 (PLAIN, LOGIN, CRAM-MD5 by hand; DIGEST-MD5
// through libsasl2's client), only LMTP admins, PLAIN only after STARTTLS (a certificate made with
// openssl), client certificates, MAIL before AUTH, who may connect, and the failed-AUTH delay and
// limit without slowing other connections.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "server/lmtp/base64.h"
#include "tests/auth/sasl_fixtures.h"
#include "tests/e2e/fixture.h"
#include "tests/e2e/sasl_client.h"

namespace cubby::e2e {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kRealm = "e2e.test";  // the instance's servername
constexpr const char* kAdmin = "postman";
constexpr const char* kAdminPassword = "p0stm4n-secret";
constexpr const char* kUser = "mallory";  // in the sasldb, not an LMTP admin
constexpr const char* kUserPassword = "mallory-pw";

// Runs openssl with `args`; an error text or "".
std::string openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_program(argv, 30s);
  return r.exit_code == 0 ? "" : "openssl " + args[0] + ": " + r.describe();
}

// Certificates for one test run: a self-signed server certificate, and a CA with client
// certificates for CN=postman (an admin) and CN=stranger (not one).
class Certificates {
 public:
  explicit Certificates(const std::string& dir) : dir_(dir) {}
  std::string make() {
    const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                         "-nodes"};
    auto req = [&](std::vector<std::string> args) {
      std::vector<std::string> all = {"req"};
      all.insert(all.end(), ec.begin(), ec.end());
      all.insert(all.end(), args.begin(), args.end());
      return openssl(all);
    };
    if (auto e = req({"-x509", "-days", "2", "-subj", "/CN=e2e.test", "-keyout", server_key(),
                      "-out", server_cert()});
        !e.empty())
      return e;
    if (auto e = req({"-x509", "-days", "2", "-subj", "/CN=Cubby Test CA", "-keyout",
                      dir_ + "/ca.key", "-out", ca()});
        !e.empty())
      return e;
    for (const char* cn : {"postman", "stranger"}) {
      const std::string base = dir_ + "/" + cn;
      if (auto e = req(
              {"-subj", std::string("/CN=") + cn, "-keyout", base + ".key", "-out", base + ".csr"});
          !e.empty())
        return e;
      if (auto e =
              openssl({"x509", "-req", "-in", base + ".csr", "-CA", ca(), "-CAkey",
                       dir_ + "/ca.key", "-CAcreateserial", "-days", "2", "-out", base + ".pem"});
          !e.empty())
        return e;
    }
    return "";
  }
  std::string server_cert() const { return dir_ + "/server.pem"; }
  std::string server_key() const { return dir_ + "/server.key"; }
  std::string ca() const { return dir_ + "/ca.pem"; }
  std::string client_cert(const std::string& cn) const { return dir_ + "/" + cn + ".pem"; }
  std::string client_key(const std::string& cn) const { return dir_ + "/" + cn + ".key"; }

 private:
  std::string dir_;
};

class AuthTest : public CubbyTest {
 protected:
  static void SetUpTestSuite() {
    certs_dir_ = new TempDir();
    certs_ = new Certificates(certs_dir_->path());
    certs_error_ = certs_->make();
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete certs_dir_;
  }

  // An instance whose lmtpauth service asks for SASL (lmtpauth_admins: postman; `admins` names
  // someone else, so the service override is what counts) and offers STARTTLS, plus:
  //   lmtphard  TCP, soft_noauth off, failure delay 10 ms, 5 failures allowed
  //   lmtpdeny  TCP, only 192.0.2.0/24 and 2001:db8::/32 may connect
  void start_secure(std::vector<std::string> extra = {}) {
    ASSERT_EQ(certs_error_, "");
    const std::string sasldb = root_.path() + "/sasldb2";
    for (auto [user, password] :
         {std::pair{kAdmin, kAdminPassword}, std::pair{kUser, kUserPassword}}) {
      auto e = test::add_sasl_user(sasldb, kRealm, user, password);
      ASSERT_FALSE(e) << *e;
    }
    hard_port_ = free_tcp_port();
    deny_port_ = free_tcp_port();
    InstanceOptions options;
    options.root = root_.path();
    options.settings = {"sasl_pwcheck_method: auxprop",
                        "sasl_auxprop_plugin: sasldb",
                        "sasl_sasldb_path: " + sasldb,
                        "admins: cyrus",
                        "lmtpauth_admins: postman",
                        "lmtphard_admins: postman",
                        "tls_server_cert: " + certs_->server_cert(),
                        "tls_server_key: " + certs_->server_key(),
                        "tls_client_ca_file: " + certs_->ca(),
                        "lmtphard_soft_noauth: no",
                        "lmtphard_lmtp_auth_failure_delay: 10ms",
                        "lmtpdeny_lmtp_allow_networks: 192.0.2.0/24, 2001:db8::/32"};
    options.settings.insert(options.settings.end(), extra.begin(), extra.end());
    options.extra_services = {
        "lmtphard cmd=\"lmtpd\" listen=\"127.0.0.1:" + std::to_string(hard_port_) + "\"",
        "lmtpdeny cmd=\"lmtpd\" listen=\"127.0.0.1:" + std::to_string(deny_port_) + "\""};
    cubby_ = std::make_unique<CubbyInstance>(options);
    auto error = cubby_->start();
    ASSERT_FALSE(error) << *error;
    auto e = cubby_->create_mailbox("alice");
    ASSERT_FALSE(e) << *e;
  }

  // A connection to `port` that has read the greeting and sent LHLO; returns the LHLO reply.
  // `from`: the client's loopback address (another address escapes 127.0.0.1's AUTH penalty).
  LmtpReply greet(LmtpClient& c, int port, const std::string& from = "") {
    EXPECT_TRUE(c.connect_tcp_from(port, from)) << c.error();
    EXPECT_EQ(c.read_reply().code, 220);
    return c.command("LHLO e2e.client");
  }

  // STARTTLS and the LHLO after it; returns that LHLO reply.
  LmtpReply starttls(LmtpClient& c, const std::string& cn = "") {
    LmtpReply r = c.command("STARTTLS");
    EXPECT_EQ(r.text(), "220 2.0.0 Ready to start TLS");
    const bool ok =
        cn.empty() ? c.start_tls() : c.start_tls(certs_->client_cert(cn), certs_->client_key(cn));
    EXPECT_TRUE(ok) << c.error();
    return c.command("LHLO e2e.client");
  }

  // MAIL, RCPT alice, DATA, the message; "" or what went wrong.
  std::string send_message(LmtpClient& c, const std::string& id) {
    return c.deliver("sender@example.org", {"alice@e2e.test"}, test_message(id), false);
  }

  static bool listed(const std::string& mechanisms, const std::string& m) {
    return (" " + mechanisms + " ").find(" " + m + " ") != std::string::npos;
  }

  int hard_port_ = 0, deny_port_ = 0;
  static TempDir* certs_dir_;
  static Certificates* certs_;
  static std::string certs_error_;
};
TempDir* AuthTest::certs_dir_ = nullptr;
Certificates* AuthTest::certs_ = nullptr;
std::string AuthTest::certs_error_;

TEST_F(AuthTest, MechanismsWithoutTlsAndMailBeforeAuth) {
  ASSERT_NO_FATAL_FAILURE(start_secure());
  LmtpClient c;
  LmtpReply lhlo = greet(c, cubby_->auth_port());
  const std::string mechanisms = auth_line(lhlo);
  EXPECT_TRUE(listed(mechanisms, "CRAM-MD5")) << lhlo.text();
  EXPECT_TRUE(listed(mechanisms, "DIGEST-MD5")) << lhlo.text();
  EXPECT_FALSE(listed(mechanisms, "PLAIN")) << lhlo.text();
  EXPECT_FALSE(listed(mechanisms, "LOGIN")) << lhlo.text();
  EXPECT_FALSE(listed(mechanisms, "ANONYMOUS")) << lhlo.text();
  EXPECT_NE(lhlo.text().find("250-STARTTLS"), std::string::npos) << lhlo.text();
  EXPECT_EQ(c.command("MAIL FROM:<a@example.org>").text(), "430 4.7.0 Authentication required");
  EXPECT_EQ(auth_plain(c, kAdmin, kAdminPassword).text(),
            "504 5.5.4 Unrecognized authentication type")
      << "PLAIN is refused, not only hidden, without TLS";
  EXPECT_EQ(c.command("VRFY alice").code, 252);
  EXPECT_EQ(c.command("RSET").code, 250);

  // soft_noauth: no (the lmtphard service) answers 530.
  LmtpClient hard;
  greet(hard, hard_port_);
  EXPECT_EQ(hard.command("MAIL FROM:<a@example.org>").text(), "530 5.7.0 Authentication required");

  // The pre-authenticated services are offered EXTERNAL only and no STARTTLS.
  LmtpClient preauth;
  LmtpReply p = greet(preauth, cubby_->tcp_port());
  EXPECT_EQ(auth_line(p), "EXTERNAL") << p.text();
  EXPECT_EQ(p.text().find("STARTTLS"), std::string::npos) << p.text();
  EXPECT_EQ(preauth.command("AUTH EXTERNAL =").code, 235);
}

TEST_F(AuthTest, CramMd5AndDigestMd5WithRightAndWrongPasswords) {
  ASSERT_NO_FATAL_FAILURE(start_secure());
  {
    LmtpClient c;
    greet(c, cubby_->auth_port());
    EXPECT_EQ(auth_cram_md5(c, kAdmin, kAdminPassword).text(),
              "235 2.7.0 Authentication successful");
    EXPECT_EQ(auth_line(c.command("LHLO e2e.client")), "") << "no AUTH after success";
    EXPECT_EQ(send_message(c, "cram@e2e"), "");
  }
  {
    LmtpClient c;
    greet(c, cubby_->auth_port());
    EXPECT_EQ(auth_libsasl(c, "DIGEST-MD5", kAdmin, kAdminPassword, kRealm).text(),
              "235 2.7.0 Authentication successful");
    EXPECT_EQ(send_message(c, "digest@e2e"), "");
  }
  for (const std::string mechanism : {"CRAM-MD5", "DIGEST-MD5"}) {
    LmtpClient c;
    greet(c, hard_port_);  // 10 ms failure delay
    LmtpReply r = mechanism == "CRAM-MD5" ? auth_cram_md5(c, kAdmin, "wrong")
                                          : auth_libsasl(c, mechanism, kAdmin, "wrong", kRealm);
    EXPECT_EQ(r.text(), "535 5.7.8 Authentication credentials invalid") << mechanism;
    EXPECT_EQ(c.command("MAIL FROM:<a@example.org>").code, 530) << mechanism;
  }
  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->size(), 2u);
  auto stored = read_file(CubbyInstance::message_file(cubby_->spool(), "alice", 1));
  ASSERT_TRUE(stored);
  EXPECT_NE(stored->find("Received: from e2e.client ([127.0.0.1])\r\n\t by e2e.test (Cubby "),
            std::string::npos)
      << *stored;
  EXPECT_NE(stored->find(") with LMTPA;\r\n"), std::string::npos) << *stored;
}

TEST_F(AuthTest, NonAdminIsRefusedAndLogged) {
  ASSERT_NO_FATAL_FAILURE(start_secure());
  LmtpClient c;
  greet(c, hard_port_);
  EXPECT_EQ(auth_cram_md5(c, kUser, kUserPassword).text(),
            "535 5.7.8 Authentication credentials invalid");
  EXPECT_EQ(c.command("MAIL FROM:<a@example.org>").code, 530);
  EXPECT_TRUE(eventually(
      [&] { return cubby_->log().find("mallory is not an LMTP admin") != std::string::npos; }, 5s))
      << cubby_->log();
}

TEST_F(AuthTest, PlainAndLoginAfterStarttls) {
  ASSERT_NO_FATAL_FAILURE(start_secure());
  LmtpClient c;
  greet(c, cubby_->auth_port());
  LmtpReply lhlo = starttls(c);
  EXPECT_EQ(c.tls_version(), "TLSv1.3");
  EXPECT_EQ(lhlo.text().find("STARTTLS"), std::string::npos) << lhlo.text();
  EXPECT_TRUE(listed(auth_line(lhlo), "PLAIN")) << lhlo.text();
  EXPECT_TRUE(listed(auth_line(lhlo), "LOGIN")) << lhlo.text();
  EXPECT_EQ(c.command("STARTTLS").code, 454);
  EXPECT_EQ(auth_plain(c, kAdmin, kAdminPassword).text(), "235 2.7.0 Authentication successful");
  EXPECT_EQ(send_message(c, "plain-tls@e2e"), "");
  auto stored = read_file(CubbyInstance::message_file(cubby_->spool(), "alice", 1));
  ASSERT_TRUE(stored);
  EXPECT_NE(stored->find(" with LMTPSA\r\n\t (version=TLSv1.3 cipher=TLS_"), std::string::npos)
      << *stored;
  EXPECT_NE(stored->find(" verify=NO);\r\n\t "), std::string::npos) << *stored;

  LmtpClient l;
  greet(l, hard_port_);
  starttls(l);
  EXPECT_EQ(auth_login(l, kAdmin, "wrong").code, 535);
  EXPECT_EQ(auth_login(l, kAdmin, kAdminPassword).text(), "235 2.7.0 Authentication successful");
  EXPECT_EQ(auth_plain(l, kAdmin, kAdminPassword).text(), "503 5.5.1 Already authenticated");
}

TEST_F(AuthTest, CommandsPipelinedBehindStarttlsAreNeverExecuted) {
  ASSERT_NO_FATAL_FAILURE(start_secure());
  LmtpClient c;
  greet(c, cubby_->auth_port());
  ASSERT_TRUE(c.send("STARTTLS\r\nRSET\r\nQUIT\r\n"));
  EXPECT_EQ(c.read_reply().text(), "220 2.0.0 Ready to start TLS");
  ASSERT_TRUE(c.start_tls()) << c.error();
  // The injected QUIT did not run, and neither RSET nor QUIT is answered now.
  EXPECT_EQ(c.command("NOOP").text(), "250 2.0.0 ok");
}

TEST_F(AuthTest, ClientCertificateOfAnAdminDeliversAndAnotherDoesNot) {
  ASSERT_NO_FATAL_FAILURE(start_secure());
  LmtpClient admin;
  greet(admin, cubby_->auth_port());
  LmtpReply lhlo = starttls(admin, "postman");
  EXPECT_EQ(auth_line(lhlo), "EXTERNAL") << lhlo.text();
  EXPECT_EQ(send_message(admin, "cert@e2e"), "") << "no AUTH needed";
  auto stored = read_file(CubbyInstance::message_file(cubby_->spool(), "alice", 1));
  ASSERT_TRUE(stored);
  EXPECT_NE(stored->find(" with LMTPSA\r\n\t (version=TLSv1.3 "), std::string::npos) << *stored;
  EXPECT_NE(stored->find(" verify=YES);\r\n"), std::string::npos) << *stored;

  LmtpClient stranger;
  greet(stranger, cubby_->auth_port());
  starttls(stranger, "stranger");
  EXPECT_EQ(stranger.command("MAIL FROM:<a@example.org>").code, 430);
  EXPECT_TRUE(eventually(
      [&] { return cubby_->log().find("stranger is not an LMTP admin") != std::string::npos; }, 5s))
      << cubby_->log();
}

TEST_F(AuthTest, AllowListRefusesAPeer) {
  ASSERT_NO_FATAL_FAILURE(start_secure());
  LmtpClient c;
  ASSERT_TRUE(c.connect_tcp(deny_port_)) << c.error();
  EXPECT_EQ(c.read_reply().text(), "421 4.7.0 127.0.0.1 not allowed");
  EXPECT_TRUE(c.wait_closed(5s));
  EXPECT_TRUE(eventually(
      [&] {
        return cubby_->log().find("connection from [127.0.0.1] refused") != std::string::npos;
      },
      5s))
      << cubby_->log();
  // Other services are not restricted.
  LmtpClient other;
  EXPECT_EQ(greet(other, cubby_->auth_port()).code, 250);
}

TEST_F(AuthTest, TooManyFailuresCloseTheConnection) {
  ASSERT_NO_FATAL_FAILURE(start_secure());
  LmtpClient c;
  greet(c, hard_port_);
  for (int i = 1; i <= 4; ++i) {
    EXPECT_EQ(auth_cram_md5(c, kAdmin, "wrong").code, 535) << "attempt " << i;
  }
  EXPECT_EQ(auth_cram_md5(c, kAdmin, "wrong").text(), "421 4.7.0 Too many authentication failures");
  EXPECT_TRUE(c.wait_closed(5s));
}

TEST_F(AuthTest, FailedAuthStormDoesNotSlowAnotherConnection) {
  ASSERT_NO_FATAL_FAILURE(start_secure({"lmtpauth_lmtp_auth_failure_delay: 1s"}));
  // Both connections are served by the one lmtpauth worker. The other one comes from another
  // address: one from the storm's address would wait for that address's AUTH penalty
  // (hostile_auth_penalty_test.cc).
  LmtpClient storm, other;
  greet(storm, cubby_->auth_port());
  greet(other, cubby_->auth_port(), "127.0.0.2");
  EXPECT_EQ(cubby_->workers("lmtpauth").size(), 1u);
  ASSERT_EQ(auth_cram_md5(storm, kAdmin, "wrong").code, 535);  // the first delay: 1 s
  // The second failure is answered after 2 s; meanwhile the other connection delivers.
  LmtpReply r = storm.command("AUTH CRAM-MD5");
  ASSERT_EQ(r.code, 334);
  const auto failed_at = Clock::now();
  ASSERT_TRUE(storm.send_line(lmtp::encode_base64("postman 00000000000000000000000000000000")));
  std::this_thread::sleep_for(100ms);

  const auto t0 = Clock::now();
  EXPECT_EQ(auth_cram_md5(other, kAdmin, kAdminPassword).code, 235);
  EXPECT_EQ(send_message(other, "during-storm@e2e"), "");
  const auto other_took = Clock::now() - t0;
  // Held behind the storm's second failure it would take 1.9 s.
  EXPECT_LT(other_took, 1500ms) << "the other connection waited for the storm";

  storm.set_timeout(10s);
  EXPECT_EQ(storm.read_reply().code, 535);
  EXPECT_GE(Clock::now() - failed_at, 1900ms) << "the second failure is delayed 2 s";
}

TEST_F(AuthTest, UnixSocketIsNotWorldWritable) {
  ASSERT_NO_FATAL_FAILURE(start_secure());
  struct stat st {};
  ASSERT_EQ(::stat(cubby_->socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u) << "the default when the services entry has no mode=";
}

}  // namespace
}  // namespace cubby::e2e
