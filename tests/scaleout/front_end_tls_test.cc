// The front end's STARTTLS to its back ends (proxy_tls, server/proxy/backend_tls.h), against a real
// back end (a private cubby-master whose lmtpauth service on TCP asks for a login and takes a
// client certificate from its CA, tls_client_ca_file) with certificates made by openssl here:
//   - a front end (lmtpd -P over a private PostgreSQL directory) with proxy_tls and a client
//     certificate delivers, logged in by the certificate, over one cached TLS connection;
//   - without a client certificate, or with one from another CA, the back end's recipients get
//     451 4.4.3 and the back end logs the certificate it did not take;
//   - a back end certificate from a CA the front end does not trust, or not naming the host in the
//     back end's address: 451 4.4.3;
//   - a back end that does not offer STARTTLS: 451 4.4.3, and nothing but LHLO and QUIT is sent to
//     it in the clear.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

#include "conf/settings.h"
#include "directory/postgres_directory.h"
#include "server/proxy/backend_tls.h"
#include "server/proxy/forwarder.h"
#include "server/proxy/front_end_backend.h"
#include "tests/e2e/instance.h"
#include "tests/e2e/lmtp_client.h"
#include "tests/e2e/process.h"
#include "tests/pg/pg_cluster.h"

namespace cubby::e2e {
namespace {

using namespace std::chrono_literals;

constexpr const char* kFrontEndName = "frontend";  // the client certificate's CN, a back end admin

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Runs openssl with `args`; an error text or "".
std::string openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_program(argv, 30s);
  return r.exit_code == 0 ? "" : "openssl " + args[0] + ": " + r.describe();
}

// A private CA ("ca"), a back end certificate for localhost only ("server") and a client
// certificate for CN=frontend ("client"), both signed by it; and another CA ("rogue") with its own
// CN=frontend certificate ("rogue-client").
class Certificates {
 public:
  explicit Certificates(std::string dir) : dir_(std::move(dir)) {}
  std::string make() {
    for (const char* ca : {"ca", "rogue"}) {
      if (auto e = req({"-x509", "-days", "2", "-subj", std::string("/CN=Cubby ") + ca, "-keyout",
                        key(ca), "-out", cert(ca)});
          !e.empty())
        return e;
    }
    const std::string ext = dir_ + "/server.ext";
    if (auto e = write(ext, "subjectAltName=DNS:localhost\n"); !e.empty()) return e;
    if (auto e = sign("server", "localhost", "ca", ext); !e.empty()) return e;
    if (auto e = sign("client", kFrontEndName, "ca", ""); !e.empty()) return e;
    return sign("rogue-client", kFrontEndName, "rogue", "");
  }
  std::string cert(const std::string& name) const { return dir_ + "/" + name + ".pem"; }
  std::string key(const std::string& name) const { return dir_ + "/" + name + ".key"; }

 private:
  std::string req(std::vector<std::string> args) {
    std::vector<std::string> all = {"req",   "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                    "-nodes"};
    all.insert(all.end(), args.begin(), args.end());
    return openssl(all);
  }
  std::string sign(const std::string& name, const std::string& cn, const std::string& ca,
                   const std::string& ext) {
    const std::string csr = dir_ + "/" + name + ".csr";
    if (auto e = req({"-subj", "/CN=" + cn, "-keyout", key(name), "-out", csr}); !e.empty()) {
      return e;
    }
    std::vector<std::string> args = {
        "x509",  "-req", "-in",  csr,       "-CA", cert(ca), "-CAkey", key(ca), "-CAcreateserial",
        "-days", "2",    "-out", cert(name)};
    if (!ext.empty()) args.insert(args.end(), {"-extfile", ext});
    return openssl(args);
  }
  static std::string write(const std::string& path, const std::string& text) {
    FILE* f = fopen(path.c_str(), "w");
    if (!f) return "cannot write " + path;
    fputs(text.c_str(), f);
    fclose(f);
    return "";
  }
  std::string dir_;
};

class FrontEndTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_dir_ = new TempDir();
    certs_ = new Certificates(certs_dir_->path());
    certs_error_ = new std::string(certs_->make());
  }
  static void TearDownTestSuite() {
    delete certs_error_;
    delete certs_;
    delete certs_dir_;
  }

  void SetUp() override {
    ASSERT_EQ(*certs_error_, "");
    InstanceOptions options;
    options.root = back_root_.path();
    options.settings = {"servername: be",
                        "autocreate_post: yes",
                        "autocreate_quota: 0",
                        "debug: yes",
                        "tls_server_cert: " + certs_->cert("server"),
                        "tls_server_key: " + certs_->key("server"),
                        "tls_client_ca_file: " + certs_->cert("ca"),
                        std::string("lmtpauth_admins: ") + kFrontEndName};
    backend_ = std::make_unique<CubbyInstance>(options);
    auto error = backend_->start();
    ASSERT_FALSE(error) << *error;
  }

  std::string auth_address(const std::string& host = "localhost") const {
    return host + ":" + std::to_string(backend_->auth_port());
  }

  // Forward settings for proxy_tls with the given extra settings lines.
  static proxy::ForwardSettings tls_settings(const std::vector<std::string>& lines) {
    std::string text = "proxy_tls: yes\n";
    for (const auto& l : lines) text += l + "\n";
    auto settings = conf::Settings::parse(text, "test");
    EXPECT_TRUE(settings.ok());
    proxy::ForwardSettings f;
    f.connection.timeout = 10s;
    auto tls = proxy::BackendTls::from(settings.value());
    EXPECT_TRUE(tls.ok()) << tls.error();
    if (tls.ok()) f.connection.tls = tls.value();
    return f;
  }
  static std::vector<std::string> client(const std::string& name) {
    return {"proxy_tls_ca_file: " + certs_->cert("ca"),
            "proxy_tls_client_cert: " + certs_->cert(name),
            "proxy_tls_client_key: " + certs_->key(name)};
  }

  // One message for `user` at `address`, forwarded with `settings`; the recipient's reply.
  static lmtp::Reply forward_one(const std::string& address, const std::string& user,
                                 const proxy::ForwardSettings& settings) {
    auto sink = proxy::SpoolSink::open("/tmp");
    EXPECT_TRUE(sink.ok()) << sink.error();
    if (!sink.ok()) return {};
    sink.value()->write("Subject: tls\r\n\r\nsecret body\r\n");
    lmtp::DeliveryRequest request;
    request.sink = std::move(sink.value());
    request.info.mail_from = "sender@example.org";
    lmtp::RecipientVerdict rcpt;
    rcpt.accepted = true;
    rcpt.target = address;
    rcpt.request.address = user + "@example.org";
    request.recipients = {rcpt};
    auto replies = proxy::forward(request, settings);
    EXPECT_EQ(replies.size(), 1u);
    return replies.empty() ? lmtp::Reply{} : replies[0];
  }

  size_t stored(const std::string& user) {
    EXPECT_TRUE(backend_->wait_settled(20s));
    std::string error;
    auto messages = backend_->messages(user, &error);
    EXPECT_TRUE(messages.has_value() || error.find("no mailbox user/" + user) != std::string::npos)
        << error;
    return messages ? messages->size() : 0;
  }

  static TempDir* certs_dir_;
  static Certificates* certs_;
  static std::string* certs_error_;
  TempDir back_root_;
  std::unique_ptr<CubbyInstance> backend_;
};

TempDir* FrontEndTlsTest::certs_dir_ = nullptr;
Certificates* FrontEndTlsTest::certs_ = nullptr;
std::string* FrontEndTlsTest::certs_error_ = nullptr;

TEST_F(FrontEndTlsTest, AFrontEndWithAClientCertificateDeliversOverOneTlsConnection) {
  PG_REQUIRE_OR_SKIP();
  test::PgCluster pg;
  ASSERT_EQ(pg.start(), "");
  directory::PostgresDirectory admin(pg.conninfo());
  ASSERT_EQ(admin.assign("bob", {auth_address(), "default"}), std::nullopt);

  TempDir front_root;
  const int front_port = free_tcp_port();
  InstanceOptions front;
  front.root = front_root.path();
  front.settings = {"directory_backend: postgresql", "directory_conninfo: " + pg.conninfo(),
                    "servername: fe"};
  for (const auto& line : client("client")) front.settings.push_back(line);
  front.settings.push_back("proxy_tls: yes");
  front.extra_services = {"  lmtpfe cmd=\"lmtpd -P -a\" listen=\"127.0.0.1:" +
                          std::to_string(front_port) + "\" prefork=1 maxchild=1"};
  CubbyInstance front_end(front);
  auto error = front_end.start();
  ASSERT_FALSE(error) << *error;
  ASSERT_TRUE(wait_for_greeting(front_port, 20s)) << front_end.log();

  for (int m = 0; m < 3; ++m) {
    LmtpClient c;
    ASSERT_TRUE(c.connect_tcp(front_port)) << c.error();
    EXPECT_EQ(c.read_reply().code, 220);
    EXPECT_EQ(c.command("LHLO test.example").code, 250);
    EXPECT_EQ(c.command("MAIL FROM:<sender@example.org>").code, 250);
    EXPECT_EQ(c.command("RCPT TO:<bob@example.org>").code, 250);
    EXPECT_EQ(c.command("DATA").code, 354);
    EXPECT_TRUE(c.send_data("Subject: m" + std::to_string(m) + "\r\n\r\nhi\r\n"));
    auto final = c.read_reply();
    EXPECT_EQ(final.code, 250) << final.text() << "\n" << front_end.log();
  }
  EXPECT_EQ(stored("bob"), 3u);
  const std::string log = backend_->log();
  // Logged in by its certificate, once: the three messages went over one cached TLS connection.
  EXPECT_EQ(count_of(log, "frontend TLS client certificate User logged in"), 1u) << log;
  EXPECT_EQ(count_of(log, "starttls: "), 1u) << log;
  EXPECT_NE(log.find("verified"), std::string::npos) << log;
}

TEST_F(FrontEndTlsTest, TheBackEndsNameIsChecked) {
  // The back end's certificate names localhost, not 127.0.0.1: the same back end by its address
  // is refused ...
  auto by_address = forward_one(auth_address("127.0.0.1"), "carol", tls_settings(client("client")));
  EXPECT_EQ(by_address.code, 451) << by_address.wire();
  EXPECT_NE(by_address.text.find("certificate"), std::string::npos) << by_address.wire();
  EXPECT_EQ(stored("carol"), 0u);
  // ... and by its name delivered.
  auto by_name = forward_one(auth_address("localhost"), "carol", tls_settings(client("client")));
  EXPECT_EQ(by_name.code, 250) << by_name.wire();
  EXPECT_EQ(stored("carol"), 1u);
}

TEST_F(FrontEndTlsTest, NoClientCertificateOrOneFromAnotherCaIsRefused) {
  auto none = forward_one(auth_address(), "dave",
                          tls_settings({"proxy_tls_ca_file: " + certs_->cert("ca")}));
  EXPECT_EQ(none.code, 451) << none.wire();
  EXPECT_EQ(none.enhanced, "4.4.3") << none.wire();
  EXPECT_NE(none.text.find("client certificate"), std::string::npos) << none.wire();

  auto rogue = forward_one(auth_address(), "dave", tls_settings(client("rogue-client")));
  EXPECT_EQ(rogue.code, 451) << rogue.wire();
  EXPECT_EQ(rogue.enhanced, "4.4.3") << rogue.wire();

  EXPECT_EQ(stored("dave"), 0u);
  // Two handshakes, neither with a certificate the back end verified: nobody logged in.
  const std::string log = backend_->log();
  EXPECT_EQ(count_of(log, "no client certificate"), 2u) << log;
  EXPECT_EQ(log.find("TLS client certificate User logged in"), std::string::npos) << log;
}

TEST_F(FrontEndTlsTest, ABackEndCertificateTheFrontEndCannotVerifyIsRefused) {
  // The back end's certificate is not from the CA the front end trusts.
  auto untrusted = tls_settings({"proxy_tls_ca_file: " + certs_->cert("rogue"),
                                 "proxy_tls_client_cert: " + certs_->cert("client"),
                                 "proxy_tls_client_key: " + certs_->key("client")});
  auto reply = forward_one(auth_address(), "erin", untrusted);
  EXPECT_EQ(reply.code, 451) << reply.wire();
  EXPECT_NE(reply.text.find("certificate"), std::string::npos) << reply.wire();
  EXPECT_EQ(stored("erin"), 0u);
}

// A back end that answers LHLO without STARTTLS and records every byte it receives.
class PlainBackEnd {
 public:
  PlainBackEnd() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&sa), len) != 0 ||
        ::listen(listener_, 1) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      return;
    }
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~PlainBackEnd() {
    ::shutdown(listener_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(listener_);
  }
  int port() const { return port_; }
  // Everything received, once the front end has closed the connection.
  std::string received() {
    if (thread_.joinable()) thread_.join();
    return received_;
  }

 private:
  void serve() {
    const int fd = ::accept(listener_, nullptr, nullptr);
    if (fd < 0) return;
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const std::string greeting = "220 plain LMTP\r\n";
    (void)::send(fd, greeting.data(), greeting.size(), MSG_NOSIGNAL);
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      received_.append(buf, static_cast<size_t>(n));
      const std::string answer = received_.find("QUIT") != std::string::npos
                                     ? "221 2.0.0 bye\r\n"
                                     : "250-plain\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n";
      (void)::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
    }
    ::close(fd);
  }
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::string received_;
};

TEST_F(FrontEndTlsTest, ABackEndWithoutStarttlsGetsNothingInTheClear) {
  PlainBackEnd plain;
  ASSERT_NE(plain.port(), 0);
  auto reply = forward_one("127.0.0.1:" + std::to_string(plain.port()), "frank",
                           tls_settings(client("client")));
  EXPECT_EQ(reply.code, 451) << reply.wire();
  EXPECT_EQ(reply.enhanced, "4.4.3") << reply.wire();
  EXPECT_NE(reply.text.find("STARTTLS"), std::string::npos) << reply.wire();
  const std::string received = plain.received();
  EXPECT_EQ(received.find("MAIL"), std::string::npos) << received;
  EXPECT_EQ(received.find("AUTH"), std::string::npos) << received;
  EXPECT_EQ(received.find("secret body"), std::string::npos) << received;
  EXPECT_NE(received.find("LHLO"), std::string::npos) << received;

  // The back end's UNIX socket takes its peers as pre-authenticated and offers no STARTTLS.
  auto unix_reply =
      forward_one("unix:" + backend_->socket_path(), "frank", tls_settings(client("client")));
  EXPECT_EQ(unix_reply.code, 451) << unix_reply.wire();
  EXPECT_EQ(stored("frank"), 0u);
}

}  // namespace
}  // namespace cubby::e2e
