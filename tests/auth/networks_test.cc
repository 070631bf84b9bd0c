// Tests of auth/networks.h: CIDR matching for lmtp_allow_networks.
#include "auth/networks.h"

#include <gtest/gtest.h>

namespace cubby::auth {
namespace {

NetworkList list(std::vector<std::string> items) {
  auto l = NetworkList::parse(items);
  EXPECT_TRUE(l.ok()) << l.error();
  return l.ok() ? l.value() : NetworkList();
}

TEST(NetworkList, EmptyAllowsEveryone) {
  EXPECT_TRUE(NetworkList().contains("192.0.2.1"));
  EXPECT_TRUE(list({}).contains("IPv6:2001:db8::1"));
}

TEST(NetworkList, Ipv4Prefixes) {
  NetworkList l = list({"192.0.2.0/24", "10.1.2.3", "172.16.0.0/12"});
  EXPECT_TRUE(l.contains("192.0.2.0"));
  EXPECT_TRUE(l.contains("192.0.2.255"));
  EXPECT_FALSE(l.contains("192.0.3.1"));
  EXPECT_TRUE(l.contains("10.1.2.3"));
  EXPECT_FALSE(l.contains("10.1.2.4"));
  EXPECT_TRUE(l.contains("172.31.255.1"));
  EXPECT_FALSE(l.contains("172.32.0.1"));
  EXPECT_FALSE(l.contains("127.0.0.1"));
  EXPECT_FALSE(l.contains("not an address"));
  EXPECT_TRUE(l.contains("IPv6:::ffff:192.0.2.9")) << "IPv4-mapped compares as IPv4";
  EXPECT_TRUE(list({"0.0.0.0/0"}).contains("203.0.113.5"));
}

TEST(NetworkList, Ipv6Prefixes) {
  NetworkList l = list({"2001:db8::/32", "::1"});
  EXPECT_TRUE(l.contains("IPv6:2001:db8:1::5"));
  EXPECT_TRUE(l.contains("2001:db8:ffff::"));
  EXPECT_FALSE(l.contains("IPv6:2001:db9::1"));
  EXPECT_TRUE(l.contains("IPv6:::1"));
  EXPECT_FALSE(l.contains("192.0.2.1")) << "families never match each other";
  NetworkList odd = list({"2001:db8:8000::/33"});
  EXPECT_TRUE(odd.contains("2001:db8:8000::1"));
  EXPECT_FALSE(odd.contains("2001:db8:7fff::1"));
}

TEST(NetworkList, BadItemsAreErrors) {
  EXPECT_FALSE(NetworkList::parse({"192.0.2.0/33"}).ok());
  EXPECT_FALSE(NetworkList::parse({"example.com"}).ok());
  EXPECT_FALSE(NetworkList::parse({"10.0.0.0/x"}).ok());
}

}  // namespace
}  // namespace cubby::auth
