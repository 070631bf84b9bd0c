// Tests of listen= resolution and of binding listening sockets (loopback TCP and UNIX sockets).
#include "conf/listen.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>

#include "tests/conf/temp_dir.h"

namespace cubby::conf {
namespace {

int port_of(const ListenAddress& a) {
  if (a.addr.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(&a.addr)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&a.addr)->sin6_port);
}

std::vector<ListenAddress> resolved(std::string_view listen, std::string_view proto = "tcp") {
  auto result = resolve_listen(listen, proto);
  if (!result) ADD_FAILURE() << listen << ": " << result.error();
  return result ? *result : std::vector<ListenAddress>{};
}

std::string error_of(std::string_view listen, std::string_view proto = "tcp") {
  auto result = resolve_listen(listen, proto);
  return result ? "(resolved)" : result.error();
}

bool ipv6_available() {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  close(fd);
  return true;
}

TEST(ConfListen, UnixPath) {
  auto addresses = resolved("/run/cubby/socket/lmtp");
  ASSERT_EQ(addresses.size(), 1u);
  EXPECT_TRUE(addresses[0].is_unix);
  EXPECT_EQ(addresses[0].path, "/run/cubby/socket/lmtp");
  EXPECT_EQ(addresses[0].display(), "/run/cubby/socket/lmtp");
  EXPECT_EQ(addresses[0].addr.ss_family, AF_UNIX);
  std::string longest(sizeof(sockaddr_un{}.sun_path) - 1, 'x');
  longest[0] = '/';
  EXPECT_EQ(resolved(longest).size(), 1u);
  EXPECT_EQ(error_of(longest + "y"), "listen \"" + longest +
                                         "y\": UNIX socket path is too long (108 "
                                         "bytes, at most 107)");
}

TEST(ConfListen, BarePortIsTheWildcard) {
  auto addresses = resolved("2424");
  ASSERT_FALSE(addresses.empty());
  EXPECT_LE(addresses.size(), 2u);
  bool v4 = false, v6 = false;
  for (const auto& a : addresses) {
    EXPECT_EQ(port_of(a), 2424);
    if (a.addr.ss_family == AF_INET) {
      v4 = true;
      EXPECT_EQ(a.display(), "0.0.0.0:2424");
    } else {
      v6 = true;
      EXPECT_EQ(a.display(), "[::]:2424");
    }
  }
  EXPECT_TRUE(v4);
  EXPECT_EQ(v6, ipv6_available());

  auto only4 = resolved("2424", "tcp4");
  ASSERT_EQ(only4.size(), 1u);
  EXPECT_EQ(only4[0].display(), "0.0.0.0:2424");
  if (ipv6_available()) {
    auto only6 = resolved("2424", "tcp6");
    ASSERT_EQ(only6.size(), 1u);
    EXPECT_EQ(only6[0].display(), "[::]:2424");
  }
}

TEST(ConfListen, HostAndPort) {
  auto v4 = resolved("127.0.0.1:2424");
  ASSERT_EQ(v4.size(), 1u);
  EXPECT_FALSE(v4[0].is_unix);
  EXPECT_EQ(v4[0].display(), "127.0.0.1:2424");
  EXPECT_EQ(v4[0].addr_len, sizeof(sockaddr_in));

  if (ipv6_available()) {
    auto v6 = resolved("[::1]:2424");
    ASSERT_EQ(v6.size(), 1u);
    EXPECT_EQ(v6[0].display(), "[::1]:2424");
    auto bare = resolved("[::1]");
    ASSERT_EQ(bare.size(), 1u);
    EXPECT_EQ(bare[0].display(), "[::1]:24");
  }

  auto local = resolved("localhost:2424");
  ASSERT_FALSE(local.empty());
  for (const auto& a : local) {
    EXPECT_TRUE(a.display() == "127.0.0.1:2424" || a.display() == "[::1]:2424") << a.display();
  }
  auto local4 = resolved("localhost:2424", "tcp4");
  ASSERT_EQ(local4.size(), 1u);
  EXPECT_EQ(local4[0].display(), "127.0.0.1:2424");
}

TEST(ConfListen, ServiceNames) {
  for (const auto& a : resolved("lmtp")) EXPECT_EQ(port_of(a), 24);  // not in this /etc/services
  EXPECT_EQ(resolved("127.0.0.1:lmtp")[0].display(), "127.0.0.1:24");
  EXPECT_EQ(resolved("127.0.0.1:smtp")[0].display(), "127.0.0.1:25");
  EXPECT_EQ(error_of("127.0.0.1:nosuchservice"),
            "listen \"127.0.0.1:nosuchservice\": unknown service \"nosuchservice\"");
  // A bare IPv4 address is taken as a port name, as in Cyrus.
  EXPECT_EQ(error_of("127.0.0.1"), "listen \"127.0.0.1\": unknown service \"127.0.0.1\"");
}

TEST(ConfListen, BadForms) {
  EXPECT_EQ(error_of(""), "listen \"\" is empty");
  EXPECT_EQ(error_of("127.0.0.1:"), "listen \"127.0.0.1:\": no port after \":\"");
  EXPECT_EQ(error_of("[::1]:"), "listen \"[::1]:\": no port after \":\"");
  EXPECT_EQ(error_of("[::1:2424"), "listen \"[::1:2424\": missing \"]\"");
  EXPECT_EQ(error_of("[]:2424"), "listen \"[]:2424\": no address inside \"[]\"");
  EXPECT_EQ(error_of("[::1]2424"), "listen \"[::1]2424\": expected \":port\" after \"]\"");
  EXPECT_EQ(error_of("::1]:2424"),
            "listen \"::1]:2424\": misplaced bracket (write [address]:port)");
  EXPECT_EQ(error_of("127.0.0.1:99999"),
            "listen \"127.0.0.1:99999\": port \"99999\" is out of range");
  EXPECT_EQ(error_of("2424", "udp"), "unknown proto \"udp\" (tcp, tcp4 or tcp6)");
  std::string bad_host = error_of("no-such-host.invalid:2424");
  EXPECT_EQ(bad_host.rfind("listen \"no-such-host.invalid:2424\": ", 0), 0u) << bad_host;
  EXPECT_EQ(error_of("[127.0.0.1]:24", "tcp6").rfind("listen \"[127.0.0.1]:24\": ", 0), 0u);
}

TEST(ConfListen, BindsALoopbackPort) {
  auto addresses = resolved("127.0.0.1:0");
  ASSERT_EQ(addresses.size(), 1u);
  auto fd = bind_listener(addresses[0], 16, 0);
  ASSERT_TRUE(fd) << fd.error();
  sockaddr_in bound{};
  socklen_t len = sizeof(bound);
  ASSERT_EQ(getsockname(*fd, reinterpret_cast<sockaddr*>(&bound), &len), 0);
  EXPECT_EQ(bound.sin_family, AF_INET);
  EXPECT_NE(ntohs(bound.sin_port), 0);
  EXPECT_EQ(ntohl(bound.sin_addr.s_addr), INADDR_LOOPBACK);
  EXPECT_TRUE(fcntl(*fd, F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(fcntl(*fd, F_GETFL) & O_NONBLOCK);
  int reuse = 0;
  socklen_t reuse_len = sizeof(reuse);
  ASSERT_EQ(getsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &reuse, &reuse_len), 0);
  EXPECT_NE(reuse, 0);

  // It listens: a client can connect.
  int client = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(client, 0);
  EXPECT_EQ(connect(client, reinterpret_cast<sockaddr*>(&bound), len), 0);
  close(client);

  // The same port again is refused, with the address in the message.
  std::string taken = "127.0.0.1:" + std::to_string(ntohs(bound.sin_port));
  auto again = bind_listener(resolved(taken)[0], 16, 0);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), "bind " + taken + ": Address already in use");
  close(*fd);
}

TEST(ConfListen, BindsALoopbackV6PortOnlyForV6) {
  if (!ipv6_available()) GTEST_SKIP() << "no IPv6";
  auto fd = bind_listener(resolved("[::1]:0")[0], 16, 0);
  ASSERT_TRUE(fd) << fd.error();
  int v6only = 0;
  socklen_t len = sizeof(v6only);
  ASSERT_EQ(getsockopt(*fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len), 0);
  EXPECT_EQ(v6only, 1);
  close(*fd);
}

TEST(ConfListen, BindsAUnixSocketWithItsMode) {
  testing::TempDir dir;
  std::string path = dir.path() + "/lmtp";
  auto address = resolved(path)[0];

  auto fd = bind_listener(address, 16, 0600);
  ASSERT_TRUE(fd) << fd.error();
  struct stat st {};
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  int client = socket(AF_UNIX, SOCK_STREAM, 0);
  EXPECT_EQ(connect(client, reinterpret_cast<const sockaddr*>(&address.addr), address.addr_len), 0);
  close(client);
  close(*fd);

  // The socket file left behind is stale: it is replaced, and mode 0 means 0660.
  auto again = bind_listener(address, 16, 0);
  ASSERT_TRUE(again) << again.error();
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  close(*again);
}

TEST(ConfListen, RefusesToReplaceARegularFile) {
  testing::TempDir dir;
  std::string path = dir.file("precious", "do not delete\n");
  auto fd = bind_listener(resolved(path)[0], 16, 0660);
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error(), "bind " + path + ": the file there is not a socket; not removing it");
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "do not delete");
}

TEST(ConfListen, UnixSocketInAMissingDirectory) {
  testing::TempDir dir;
  std::string path = dir.path() + "/no/such/dir/lmtp";
  auto fd = bind_listener(resolved(path)[0], 16, 0);
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error(), "bind " + path + ": No such file or directory");
}

}  // namespace
}  // namespace cubby::conf
