// Tests of auth/sasl.h against the real libsasl2: a sasldb made with saslpasswd2, the server side
// under Cubby's policy, and libsasl2's own client side answering each mechanism.
#include "auth/sasl.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "tests/auth/sasl_fixtures.h"

namespace cubby::auth {
namespace {

constexpr const char* kRealm = "mail.example.test";

bool has(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

std::string joined(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& s : list) out += (out.empty() ? "" : " ") + s;
  return out;
}

class Sasl : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/cubby-sasl-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const std::string db = dir_ + "/sasldb2";
    for (auto [user, password] : {std::pair{"admin", "s3cret"}, {"user", "userpw"}}) {
      auto error = test::add_sasl_user(db, kRealm, user, password);
      ASSERT_FALSE(error) << *error;
    }
    conf::Settings settings;
    ASSERT_FALSE(settings.set("sasl_pwcheck_method", "auxprop"));
    ASSERT_FALSE(settings.set("sasl_auxprop_plugin", "sasldb"));
    ASSERT_FALSE(settings.set("sasl_sasldb_path", db));
    auto library = SaslLibrary::init(settings);
    ASSERT_TRUE(library.ok()) << library.error();
    library_ = std::move(library.value()).release();
  }
  static void TearDownTestSuite() {
    delete library_;
    library_ = nullptr;
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::unique_ptr<SaslServer> server(SaslPolicy policy = {{"admin"}, false, 0}) {
    auto s = SaslServer::open(*library_, kRealm, "127.0.0.1;24", "127.0.0.1;40000", policy);
    EXPECT_TRUE(s.ok()) << s.error();
    return s.ok() ? std::move(s.value()) : nullptr;
  }

  // Runs `mechanism` as `user`/`password` through libsasl2's client; the server's last step.
  static SaslStep authenticate(SaslServer& server, const std::string& mechanism,
                               const std::string& user, const std::string& password) {
    test::LibSaslClient client(user, password, kRealm);
    std::optional<std::string> initial;
    if (auto e = client.start(kRealm, mechanism, &initial); !e.empty()) {
      return {SaslStep::Kind::kFailure, "client: " + e};
    }
    SaslStep step = initial ? server.start(mechanism, std::string_view(*initial))
                            : server.start(mechanism, std::nullopt);
    for (int round = 0; step.kind == SaslStep::Kind::kContinue && round < 10; ++round) {
      std::string response;
      if (auto e = client.step(step.data, &response); !e.empty()) {
        return {SaslStep::Kind::kFailure, "client: " + e};
      }
      step = server.step(response);
    }
    return step;
  }

  static std::string dir_;
  static SaslLibrary* library_;
};
std::string Sasl::dir_;
SaslLibrary* Sasl::library_ = nullptr;

TEST_F(Sasl, PlaintextMechanismsOnlyOverTlsOrWhenAllowed) {
  auto s = server();
  ASSERT_TRUE(s);
  const auto clear = s->mechanisms();
  EXPECT_TRUE(has(clear, "CRAM-MD5")) << joined(clear);
  EXPECT_TRUE(has(clear, "DIGEST-MD5")) << joined(clear);
  EXPECT_FALSE(has(clear, "PLAIN")) << joined(clear);
  EXPECT_FALSE(has(clear, "LOGIN")) << joined(clear);
  EXPECT_FALSE(has(clear, "ANONYMOUS")) << joined(clear);
  EXPECT_FALSE(has(clear, "EXTERNAL")) << joined(clear);
  EXPECT_EQ(s->start("PLAIN", std::string_view("\0admin\0s3cret", 13)).kind,
            SaslStep::Kind::kNoMechanism)
      << "refused, not only hidden";

  ASSERT_TRUE(s->set_external(256, nullptr));
  const auto tls = s->mechanisms();
  EXPECT_TRUE(has(tls, "PLAIN")) << joined(tls);
  EXPECT_TRUE(has(tls, "LOGIN")) << joined(tls);
  EXPECT_FALSE(has(tls, "EXTERNAL")) << "no certificate: " << joined(tls);

  auto allowed = server({{"admin"}, true, 0});
  ASSERT_TRUE(allowed);
  EXPECT_TRUE(has(allowed->mechanisms(), "PLAIN")) << joined(allowed->mechanisms());
}

TEST_F(Sasl, EachMechanismSucceedsWithTheRightPasswordAndFailsWithAWrongOne) {
  std::vector<std::string> mechanisms = {"PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5"};
  {
    auto probe = server();
    for (const char* scram : {"SCRAM-SHA-1", "SCRAM-SHA-256"}) {
      if (has(probe->mechanisms(), scram)) mechanisms.push_back(scram);
    }
  }
  for (const std::string& mechanism : mechanisms) {
    auto s = server();
    ASSERT_TRUE(s->set_external(256, nullptr));  // PLAIN and LOGIN need TLS
    SaslStep good = authenticate(*s, mechanism, "admin", "s3cret");
    EXPECT_EQ(good.kind, SaslStep::Kind::kSuccess) << mechanism << ": " << good.data;
    EXPECT_EQ(good.data, "admin") << mechanism;

    auto t = server();
    ASSERT_TRUE(t->set_external(256, nullptr));
    SaslStep bad = authenticate(*t, mechanism, "admin", "wrong");
    EXPECT_EQ(bad.kind, SaslStep::Kind::kFailure) << mechanism;
    EXPECT_EQ(t->refused_identity(), "") << mechanism;
  }
}

TEST_F(Sasl, OnlyAdminsMayAuthenticate) {
  for (const char* mechanism : {"PLAIN", "CRAM-MD5", "DIGEST-MD5"}) {
    auto s = server();
    ASSERT_TRUE(s->set_external(256, nullptr));
    SaslStep step = authenticate(*s, mechanism, "user", "userpw");
    EXPECT_EQ(step.kind, SaslStep::Kind::kFailure) << mechanism;
    EXPECT_EQ(s->refused_identity(), "user") << mechanism;
  }
  // The same user is accepted once listed.
  auto listed = server({{"admin", "user"}, false, 0});
  EXPECT_EQ(authenticate(*listed, "CRAM-MD5", "user", "userpw").kind, SaslStep::Kind::kSuccess);
}

TEST_F(Sasl, UnknownMechanism) {
  auto s = server();
  EXPECT_EQ(s->start("X-NOTHING", std::nullopt).kind, SaslStep::Kind::kNoMechanism);
}

TEST_F(Sasl, ExternalFromAClientCertificate) {
  auto s = server();
  const std::string admin = "admin";
  ASSERT_TRUE(s->set_external(256, &admin));
  EXPECT_TRUE(has(s->mechanisms(), "EXTERNAL")) << joined(s->mechanisms());
  SaslStep step = s->start("EXTERNAL", std::string_view(""));
  EXPECT_EQ(step.kind, SaslStep::Kind::kSuccess) << step.data;
  EXPECT_EQ(step.data, "admin");

  auto t = server();
  const std::string stranger = "stranger";
  ASSERT_TRUE(t->set_external(256, &stranger));
  EXPECT_EQ(t->start("EXTERNAL", std::string_view("")).kind, SaslStep::Kind::kFailure);
  EXPECT_EQ(t->refused_identity(), "stranger");
}

TEST_F(Sasl, MinimumLayerMustBeMetByTls) {
  auto s = server({{"admin"}, false, 128});
  SaslStep clear = authenticate(*s, "CRAM-MD5", "admin", "s3cret");
  EXPECT_NE(clear.kind, SaslStep::Kind::kSuccess) << "no TLS: the minimum layer is not met";
  auto t = server({{"admin"}, false, 128});
  ASSERT_TRUE(t->set_external(256, nullptr));
  SaslStep tls = authenticate(*t, "CRAM-MD5", "admin", "s3cret");
  EXPECT_EQ(tls.kind, SaslStep::Kind::kSuccess) << tls.data;
}

}  // namespace
}  // namespace cubby::auth
