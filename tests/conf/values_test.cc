// Tests of the value parsers: bool, int, byte size, duration, list and CIDR forms.
#include "conf/values.h"

#include <gtest/gtest.h>

namespace cubby::conf {
namespace {

using std::chrono::milliseconds;

TEST(ConfValues, Bools) {
  for (const char* yes : {"yes", "YES", "on", "true", "True", "1", "t", "y", " yes "}) {
    EXPECT_EQ(parse_bool(yes), true) << yes;
  }
  for (const char* no : {"no", "off", "OFF", "false", "0", "f", "n"}) {
    EXPECT_EQ(parse_bool(no), false) << no;
  }
  for (const char* bad : {"", "2", "yess", "enable", "o"}) EXPECT_FALSE(parse_bool(bad)) << bad;
}

TEST(ConfValues, Ints) {
  EXPECT_EQ(parse_int("0"), 0);
  EXPECT_EQ(parse_int("-1"), -1);
  EXPECT_EQ(parse_int("+42"), 42);
  EXPECT_EQ(parse_int("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(parse_int("-9223372036854775808"), INT64_MIN);
  for (const char* bad : {"", "-", "12a", "1.5", "0x10", "9223372036854775808", "1 2"}) {
    EXPECT_FALSE(parse_int(bad)) << bad;
  }
}

TEST(ConfValues, ByteSizes) {
  EXPECT_EQ(parse_bytesize("0"), 0u);
  EXPECT_EQ(parse_bytesize("1234"), 1234u);
  EXPECT_EQ(parse_bytesize("10k"), 10u * 1024);
  EXPECT_EQ(parse_bytesize("10K"), 10u * 1024);
  EXPECT_EQ(parse_bytesize("3M"), 3u << 20);
  EXPECT_EQ(parse_bytesize("3mb"), 3u << 20);
  EXPECT_EQ(parse_bytesize("3MiB"), 3u << 20);
  EXPECT_EQ(parse_bytesize("2G"), uint64_t{2} << 30);
  EXPECT_EQ(parse_bytesize("5 M"), 5u << 20);
  EXPECT_EQ(parse_bytesize("7B"), 7u);
  for (const char* bad : {"", "M", "12Q", "-1", "1.5M", "10T", "10Mx", "99999999999999999999"}) {
    EXPECT_FALSE(parse_bytesize(bad)) << bad;
  }
  EXPECT_FALSE(parse_bytesize("99999999999999G"));  // overflows uint64
}

TEST(ConfValues, Durations) {
  EXPECT_EQ(parse_duration("360"), milliseconds(360'000));
  EXPECT_EQ(parse_duration("360s"), milliseconds(360'000));
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("5m"), milliseconds(300'000));
  EXPECT_EQ(parse_duration("2h"), milliseconds(7'200'000));
  EXPECT_EQ(parse_duration("1d"), milliseconds(86'400'000));
  EXPECT_EQ(parse_duration("1h30m"), milliseconds(5'400'000));
  EXPECT_EQ(parse_duration("1S"), milliseconds(1000));
  for (const char* bad : {"", "s", "5x", "1h30", "-5s", "1.5s", "5 sec"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
}

TEST(ConfValues, Lists) {
  EXPECT_EQ(split_list(""), std::vector<std::string>{});
  EXPECT_EQ(split_list("a b,c ,, d\te"), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
}

TEST(ConfValues, Networks) {
  for (const char* good : {"192.0.2.0/24", "10.0.0.1", "::1", "2001:db8::/32", "0.0.0.0/0"}) {
    EXPECT_FALSE(check_cidr(good)) << good;
  }
  for (const char* bad : {"host.example", "192.0.2.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x"}) {
    EXPECT_TRUE(check_cidr(bad)) << bad;
  }
}

}  // namespace
}  // namespace cubby::conf
