// Tests of server/lmtpd/tls.h: when STARTTLS is offered and which tls_* settings are refused.
#include "server/lmtpd/tls.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/conf/temp_dir.h"

namespace cubby::server {
namespace {

TEST(TlsContext, NotConfiguredMeansNoStarttls) {
  conf::Settings s;
  auto context = make_tls_context(s);
  ASSERT_TRUE(context.ok()) << context.error();
  EXPECT_EQ(context.value(), nullptr);
  ASSERT_FALSE(s.set("tls_server_cert", "/nonexistent/cert.pem"));
  context = make_tls_context(s);
  ASSERT_TRUE(context.ok()) << "a certificate without a key offers nothing";
  EXPECT_EQ(context.value(), nullptr);
}

TEST(TlsContext, SettingsThatCannotBeUsedAreErrors) {
  conf::testing::TempDir dir;
  const std::string cert = dir.path() + "/c.pem", key = dir.path() + "/k.pem";
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
      "-nodes -days 1 -subj /CN=t -keyout " +
      key + " -out " + cert + " 2>/dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0);

  conf::Settings good;
  ASSERT_FALSE(good.set("tls_server_cert", cert));
  ASSERT_FALSE(good.set("tls_server_key", key));
  auto context = make_tls_context(good);
  ASSERT_TRUE(context.ok()) << context.error();
  EXPECT_NE(context.value(), nullptr);

  auto error_of = [&](const char* name, const char* value) {
    conf::Settings s = good;
    EXPECT_FALSE(s.set(name, value));
    auto c = make_tls_context(s);
    return c.ok() ? std::string("(no error)") : c.error();
  };
  EXPECT_NE(error_of("tls_server_cert", "/nonexistent.pem").find("tls_server_cert"),
            std::string::npos);
  EXPECT_NE(error_of("tls_server_key", "/nonexistent.pem").find("tls_server_key"),
            std::string::npos);
  EXPECT_NE(error_of("tls_versions", "tls1_0 tls1_1").find("tls_versions"), std::string::npos);
  EXPECT_NE(error_of("tls_ciphers", "NO-SUCH-CIPHER").find("tls_ciphers"), std::string::npos);
  EXPECT_NE(error_of("tls_client_ca_file", "/nonexistent.pem").find("tls_client_ca_file"),
            std::string::npos);
  EXPECT_NE(error_of("tls_server_ca_file", "/nonexistent.pem").find("tls_server_ca_file"),
            std::string::npos);
}

}  // namespace
}  // namespace cubby::server
