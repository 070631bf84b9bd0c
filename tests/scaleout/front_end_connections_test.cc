// The front end's connections to its back ends (server/proxy/connection_cache.h,
// backend_connection.h, backend_sasl.h), against a real back end (a private cubby-master,
// tests/e2e/instance.h) and a private PostgreSQL directory:
//   - messages through the front end reuse one connection to the back end (the back end's log
//     counts its connections: `debug: yes` logs each);
//   - the back end restarted between two messages: the cached connection is found dead and the
//     second message is delivered over a new one;
//   - a back end that asks for SASL (its `lmtpauth` service): a front end without credentials is
//     refused at MAIL, one with proxy_authname and proxy_password delivers.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "directory/postgres_directory.h"
#include "server/proxy/connection_cache.h"
#include "server/proxy/forwarder.h"
#include "server/proxy/front_end_backend.h"
#include "tests/auth/sasl_fixtures.h"
#include "tests/e2e/instance.h"
#include "tests/e2e/lmtp_client.h"
#include "tests/pg/pg_cluster.h"

namespace cubby::e2e {
namespace {

using namespace std::chrono_literals;

constexpr const char* kRealm = "be";  // the back end's servername
constexpr const char* kProxyName = "frontend";
constexpr const char* kProxyPassword = "fr0nt-s3cret";

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class FrontEndConnectionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PG_REQUIRE_OR_SKIP();
    pg_ = std::make_unique<test::PgCluster>();
    ASSERT_EQ(pg_->start(), "");

    const std::string sasldb = back_root_.path() + "/sasldb2";
    auto added = test::add_sasl_user(sasldb, kRealm, kProxyName, kProxyPassword);
    ASSERT_FALSE(added) << *added;
    InstanceOptions options;
    options.root = back_root_.path();
    options.settings = {"servername: be",
                        "autocreate_post: yes",
                        "autocreate_quota: 0",
                        "debug: yes",
                        "sasl_pwcheck_method: auxprop",
                        "sasl_auxprop_plugin: sasldb",
                        "sasl_sasldb_path: " + sasldb,
                        std::string("lmtpauth_admins: ") + kProxyName};
    backend_ = std::make_unique<CubbyInstance>(options);
    auto error = backend_->start();
    ASSERT_FALSE(error) << *error;

    // alice through the UNIX socket (the same path after a restart), bob through the service
    // that asks for SASL.
    directory::PostgresDirectory admin(pg_->conninfo());
    ASSERT_EQ(admin.assign("alice", {"unix:" + backend_->socket_path(), "default"}), std::nullopt);
    ASSERT_EQ(admin.assign("bob", {auth_address(), "default"}), std::nullopt);

    front_port_ = free_tcp_port();
    InstanceOptions front;
    front.root = front_root_.path();
    front.settings = {"directory_backend: postgresql", "directory_conninfo: " + pg_->conninfo(),
                      "servername: fe", std::string("proxy_authname: ") + kProxyName,
                      std::string("proxy_password: ") + kProxyPassword};
    front.extra_services = {"  lmtpfe cmd=\"lmtpd -P -a\" listen=\"127.0.0.1:" +
                            std::to_string(front_port_) + "\" prefork=1 maxchild=1"};
    front_ = std::make_unique<CubbyInstance>(front);
    error = front_->start();
    ASSERT_FALSE(error) << *error;
    ASSERT_TRUE(wait_for_greeting(front_port_, 20s)) << front_->log();
  }

  void TearDown() override {
    front_.reset();
    backend_.reset();
    pg_.reset();
  }

  std::string auth_address() const { return "127.0.0.1:" + std::to_string(backend_->auth_port()); }

  // One message to `user` through the front end on a new client connection; its final reply.
  LmtpReply send(const std::string& user, const std::string& id) {
    LmtpClient client;
    EXPECT_TRUE(client.connect_tcp(front_port_)) << client.error();
    EXPECT_EQ(client.read_reply().code, 220);
    EXPECT_EQ(client.command("LHLO test.example").code, 250);
    EXPECT_EQ(client.command("MAIL FROM:<sender@example.org>").code, 250);
    auto rcpt = client.command("RCPT TO:<" + user + "@example.org>");
    if (!rcpt.ok()) return rcpt;
    EXPECT_EQ(client.command("DATA").code, 354);
    EXPECT_TRUE(client.send_data("Subject: " + id + "\r\nX-Test-Id: " + id + "\r\n\r\nhi\r\n"));
    auto final = client.read_reply();
    EXPECT_EQ(client.command("QUIT").code, 221);
    return final;
  }

  // Connections the back end's workers have accepted so far (its debug log).
  size_t backend_connections() const { return count_of(backend_->log(), "connection from "); }

  std::unique_ptr<test::PgCluster> pg_;
  TempDir back_root_, front_root_;
  std::unique_ptr<CubbyInstance> backend_;
  std::unique_ptr<CubbyInstance> front_;
  int front_port_ = 0;
};

TEST_F(FrontEndConnectionsTest, OneConnectionCarriesManyMessagesAndSurvivesARestart) {
  const size_t before = backend_connections();
  for (int m = 0; m < 5; ++m) {
    auto reply = send("alice", "reuse" + std::to_string(m));
    ASSERT_EQ(reply.code, 250) << reply.text();
  }
  // Five messages, one connection from the front end (its worker keeps it open).
  EXPECT_EQ(backend_connections(), before + 1) << backend_->log();

  // The back end restarts: the front end's cached connection is dead; the next message goes
  // over a new one.
  ASSERT_TRUE(backend_->stop().has_value());
  auto error = backend_->start();
  ASSERT_FALSE(error) << *error;
  auto reply = send("alice", "after-restart");
  EXPECT_EQ(reply.code, 250) << reply.text() << "\n" << front_->log();
  ASSERT_TRUE(backend_->wait_settled(20s));
  auto stored = backend_->messages("alice");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->size(), 6u);
}

TEST_F(FrontEndConnectionsTest, ABackEndThatAsksForSaslGetsTheFrontEndsCredentials) {
  // The back end's lmtpauth service refuses a front end that does not log in ...
  auto sink = proxy::SpoolSink::open("/tmp");
  ASSERT_TRUE(sink.ok()) << sink.error();
  sink.value()->write("Subject: anonymous\r\n\r\nhi\r\n");
  lmtp::DeliveryRequest request;
  request.sink = std::move(sink.value());
  request.info.mail_from = "sender@example.org";
  lmtp::RecipientVerdict bob;
  bob.accepted = true;
  bob.target = auth_address();
  bob.request.address = "bob@example.org";
  request.recipients = {bob};
  proxy::ForwardSettings anonymous;
  const auto refused = proxy::forward(request, anonymous);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_NE(refused[0].code / 100, 2) << refused[0].wire();

  // ... while the front end, with proxy_authname and proxy_password, delivers to bob there.
  for (int m = 0; m < 2; ++m) {
    auto reply = send("bob", "sasl" + std::to_string(m));
    EXPECT_EQ(reply.code, 250) << reply.text() << "\n" << front_->log();
  }
  // A wrong password cannot log in (last: the failure slows AUTH from this address down).
  proxy::ForwardSettings wrong;
  wrong.connection.authname = kProxyName;
  wrong.connection.password = "not-the-password";
  const auto unauthenticated = proxy::forward(request, wrong);
  ASSERT_EQ(unauthenticated.size(), 1u);
  EXPECT_EQ(unauthenticated[0].code, 451) << unauthenticated[0].wire();
  EXPECT_NE(unauthenticated[0].text.find("AUTH"), std::string::npos) << unauthenticated[0].wire();

  ASSERT_TRUE(backend_->wait_settled(20s));
  auto stored = backend_->messages("bob");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->size(), 2u);
}

}  // namespace
}  // namespace cubby::e2e
