// Tests of MAIL FROM / RCPT TO parsing: path grammar, parameters, xtext, UTF-8 (address.h).
#include "server/lmtp/address.h"

#include <gtest/gtest.h>

namespace cubby::lmtp {
namespace {

std::optional<std::string> path_of(std::string_view s) {
  size_t used = 0;
  auto p = parse_path(s, &used);
  if (!p) return std::nullopt;
  EXPECT_EQ(s.substr(used), "") << s;
  return p->address;
}

std::string wire_of(const Result<MailCommand, Reply>& r) {
  return r.ok() ? "ok" : r.error().wire();
}
std::string wire_of(const Result<RcptCommand, Reply>& r) {
  return r.ok() ? "ok" : r.error().wire();
}

TEST(AddressPath, AcceptsCommonForms) {
  EXPECT_EQ(path_of("<>"), "");
  EXPECT_EQ(path_of("<alice@example.com>"), "alice@example.com");
  EXPECT_EQ(path_of("<alice>"), "alice");
  EXPECT_EQ(path_of("<first.last+tag@sub-domain.example.com>"),
            "first.last+tag@sub-domain.example.com");
  EXPECT_EQ(path_of("<\"john doe\"@example.com>"), "\"john doe\"@example.com");
  EXPECT_EQ(path_of("<\"a\\\"b\"@example.com>"), "\"a\\\"b\"@example.com");
  EXPECT_EQ(path_of("<a\\,b@example.com>"), "a\\,b@example.com");
  EXPECT_EQ(path_of("<user@[192.0.2.1]>"), "user@[192.0.2.1]");
  EXPECT_EQ(path_of("<user@[IPv6:2001:db8::1]>"), "user@[IPv6:2001:db8::1]");
  EXPECT_EQ(path_of("<user@[ipv6:::ffff:192.0.2.1]>"), "user@[ipv6:::ffff:192.0.2.1]");
  EXPECT_EQ(path_of("<!#$%&'*+-/=?^_`{|}~@example.com>"), "!#$%&'*+-/=?^_`{|}~@example.com");
}

TEST(AddressPath, DropsTheSourceRoute) {
  EXPECT_EQ(path_of("<@relay.example:alice@example.com>"), "alice@example.com");
  EXPECT_EQ(path_of("<@a.example,@b.example:alice@example.com>"), "alice@example.com");
  EXPECT_EQ(path_of("<@[192.0.2.1]:alice@example.com>"), "alice@example.com");
}

// Found by the address fuzz target (tests/fuzz/corpus/address/crash-f9db...): 8-bit bytes in the
// source route were never checked, because only the address after the route was.
TEST(AddressPath, EightBitSourceRouteMustBeUtf8) {
  size_t consumed = 0;
  EXPECT_FALSE(parse_path("<@\xff\xfe.example:alice@example.com>", &consumed));
  auto path = parse_path("<@\xc3\xa9.example:alice@example.com>", &consumed);
  ASSERT_TRUE(path);
  EXPECT_EQ(path->address, "alice@example.com");
  EXPECT_TRUE(path->has_8bit) << "an 8-bit route needs SMTPUTF8 like an 8-bit address";
}

TEST(AddressPath, RefusesBadForms) {
  for (const char* bad : {"",
                          "alice@example.com",
                          "<alice@example.com",
                          "< alice@example.com>",
                          "<alice @example.com>",
                          "<ali ce@example.com>",
                          "<alice@>",
                          "<alice@exa mple.com>",
                          "<alice@example_com>",
                          "<a(b)@example.com>",
                          "<a;b@example.com>",
                          "<a:b@example.com>",
                          "<a[b@example.com>",
                          "<\"unterminated@example.com>",
                          "<@relay.example>",
                          "<@relay.example:>",
                          "<@relay.example;alice@example.com>",
                          "<@:alice@example.com>",
                          "<user@[abc]>",
                          "<user@[IPv6:]>",
                          "<user@[192.0.2.1>",
                          "<user@[]>",
                          "<a\tb@example.com>",
                          "<a\x7f@example.com>",
                          "<a\\>"}) {
    size_t used = 0;
    EXPECT_FALSE(parse_path(bad, &used).has_value()) << bad;
  }
}

TEST(AddressPath, EightBitMustBeValidUtf8) {
  size_t used = 0;
  auto p = parse_path(
      "<j\xC3\xBCrgen@b\xC3\xBC"
      "cher.example>",
      &used);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->has_8bit);
  EXPECT_EQ(p->address,
            "j\xC3\xBCrgen@b\xC3\xBC"
            "cher.example");
  EXPECT_FALSE(parse_path("<j\xFCrgen@example.com>", &used));     // Latin-1, not UTF-8
  EXPECT_FALSE(parse_path("<j\xC3@example.com>", &used));         // truncated sequence
  EXPECT_FALSE(parse_path("<\xC0\xAF@example.com>", &used));      // overlong
  EXPECT_FALSE(parse_path("<\xED\xA0\x80@example.com>", &used));  // surrogate
  auto quoted = parse_path("<\"\xE2\x82\xAC uro\"@example.com>", &used);
  ASSERT_TRUE(quoted);
  EXPECT_TRUE(quoted->has_8bit);
}

TEST(AddressMail, ParsesParameters) {
  auto m = parse_mail("FROM:<bob@example.org> SIZE=1234 BODY=8BITMIME AUTH=postman SMTPUTF8");
  ASSERT_TRUE(m.ok()) << wire_of(m);
  EXPECT_EQ(m->from.address, "bob@example.org");
  EXPECT_TRUE(m->has_size);
  EXPECT_EQ(m->size, 1234u);
  EXPECT_EQ(m->auth_id, "postman");
  EXPECT_TRUE(m->smtputf8);

  auto lower = parse_mail("from:<> size=0 body=7bit auth=<> smtputf8");
  ASSERT_TRUE(lower.ok()) << wire_of(lower);
  EXPECT_EQ(lower->from.address, "");
  EXPECT_EQ(lower->auth_id, "");
  EXPECT_EQ(parse_mail("FROM:<>")->has_size, false);
}

TEST(AddressMail, RefusesWithCyrusReplies) {
  const std::string syntax = "501 5.5.4 Syntax error in parameters\r\n";
  const std::string unknown = "501 5.5.4 Unrecognized parameters\r\n";
  EXPECT_EQ(wire_of(parse_mail("FROM: <bob@example.org>")), syntax);
  EXPECT_EQ(wire_of(parse_mail("FROM:bob@example.org")), syntax);
  EXPECT_EQ(wire_of(parse_mail("TO:<bob@example.org>")), syntax);
  EXPECT_EQ(wire_of(parse_mail("FROM:<bob@example.org>x")), syntax);
  EXPECT_EQ(wire_of(parse_mail("FROM:<bob@example.org> ")), unknown);
  EXPECT_EQ(wire_of(parse_mail("FROM:<bob@example.org>  SIZE=1")), unknown);
  EXPECT_EQ(wire_of(parse_mail("FROM:<bob@example.org> RET=FULL")), unknown);
  EXPECT_EQ(wire_of(parse_mail("FROM:<bob@example.org> ENVID=x")), unknown);
  EXPECT_EQ(wire_of(parse_mail("FROM:<bob@example.org> SMTPUTF8=yes")), unknown);
  EXPECT_EQ(wire_of(parse_mail("FROM:<bob@example.org> SIZE=")),
            "501 5.5.2 SIZE requires a value\r\n");
  EXPECT_EQ(wire_of(parse_mail("FROM:<bob@example.org> SIZE=x1")),
            "501 5.5.2 SIZE requires a value\r\n");
  EXPECT_EQ(wire_of(parse_mail("FROM:<bob@example.org> SIZE=12x")), syntax);
  EXPECT_EQ(wire_of(parse_mail("FROM:<bob@example.org> BODY=BINARYMIME")),
            "501 5.5.4 Unrecognized BODY type\r\n");
  EXPECT_EQ(wire_of(parse_mail("FROM:<bob@example.org> BODY=8BITMIMEX")), syntax);
  EXPECT_EQ(wire_of(parse_mail("FROM:<j\xC3\xBCrgen@example.org>")),
            "553 5.6.7 Non-ASCII addresses require SMTPUTF8\r\n");
  EXPECT_EQ(wire_of(parse_mail("FROM:<j\xC3\xBCrgen@example.org> SMTPUTF8")), "ok");
  EXPECT_EQ(wire_of(parse_mail("FROM:<j\xFCrgen@example.org> SMTPUTF8")), syntax);
}

TEST(AddressMail, SizeThatDoesNotFitSaturates) {
  auto m = parse_mail("FROM:<> SIZE=99999999999999999999999999");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->size, UINT64_MAX);
}

TEST(AddressMail, AuthIsXtextAndMalformedMeansNone) {
  EXPECT_EQ(parse_mail("FROM:<> AUTH=a+2Bb+3Dc")->auth_id, "a+b=c");
  EXPECT_EQ(parse_mail("FROM:<> AUTH=user+40example.com")->auth_id, "user@example.com");
  EXPECT_EQ(parse_mail("FROM:<> AUTH=<postman>")->auth_id, "postman");
  EXPECT_EQ(parse_mail("FROM:<> AUTH=bad+2")->auth_id, "");
  EXPECT_EQ(parse_mail("FROM:<> AUTH=a=b")->auth_id, "");
  EXPECT_EQ(parse_mail("FROM:<> AUTH=evil+0D+0AX-Injected:+20yes")->auth_id, "");
  EXPECT_EQ(parse_mail("FROM:<> AUTH=")->auth_id, "");
}

TEST(AddressRcpt, ParsesIgnoreQuotaOnly) {
  auto r = parse_rcpt("TO:<alice@example.com>", false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->to.address, "alice@example.com");
  EXPECT_FALSE(r->ignore_quota);
  EXPECT_TRUE(parse_rcpt("to:<alice@example.com> ignorequota", false)->ignore_quota);
  EXPECT_TRUE(parse_rcpt("TO:<alice@example.com> IGNOREQUOTA", false)->ignore_quota);
  EXPECT_EQ(parse_rcpt("TO:<@relay:alice@example.com>", false)->to.address, "alice@example.com");

  const std::string syntax = "501 5.5.4 Syntax error in parameters\r\n";
  const std::string unknown = "501 5.5.4 Unrecognized parameters\r\n";
  EXPECT_EQ(wire_of(parse_rcpt("TO:<>", false)), syntax);
  EXPECT_EQ(wire_of(parse_rcpt("TO: <alice@example.com>", false)), syntax);
  EXPECT_EQ(wire_of(parse_rcpt("FROM:<alice@example.com>", false)), syntax);
  EXPECT_EQ(wire_of(parse_rcpt("TO:<alice@example.com>IGNOREQUOTA", false)), syntax);
  EXPECT_EQ(wire_of(parse_rcpt("TO:<alice@example.com> IGNOREQUOT", false)), unknown);
  EXPECT_EQ(wire_of(parse_rcpt("TO:<alice@example.com> NOTIFY=NEVER", false)), unknown);
  EXPECT_EQ(wire_of(parse_rcpt("TO:<alice@example.com> ORCPT=rfc822;x@y", false)), unknown);
  EXPECT_EQ(wire_of(parse_rcpt("TO:<alice@example.com> ", false)), unknown);
  EXPECT_EQ(wire_of(parse_rcpt("TO:<j\xC3\xBCrgen@example.com>", false)),
            "553 5.6.7 Non-ASCII addresses require SMTPUTF8\r\n");
  EXPECT_EQ(wire_of(parse_rcpt("TO:<j\xC3\xBCrgen@example.com>", true)), "ok");
}

TEST(AddressXtext, Decodes) {
  EXPECT_EQ(decode_xtext("plain"), "plain");
  EXPECT_EQ(decode_xtext("+2B+3D+41"), "+=A");
  EXPECT_EQ(decode_xtext("+c3+a9"), "\xC3\xA9");  // lower-case hex is tolerated
  EXPECT_EQ(decode_xtext(""), "");
  EXPECT_FALSE(decode_xtext("+"));
  EXPECT_FALSE(decode_xtext("+4"));
  EXPECT_FALSE(decode_xtext("+4G"));
  EXPECT_FALSE(decode_xtext("a b"));
  EXPECT_FALSE(decode_xtext("a=b"));
  EXPECT_FALSE(decode_xtext("\xC3\xA9"));  // raw 8-bit is not xtext
  EXPECT_FALSE(decode_xtext("+00"));       // NUL would end up in Received
  EXPECT_FALSE(decode_xtext("+0A"));
  EXPECT_FALSE(decode_xtext("+7F"));
}

TEST(AddressUtf8, Validates) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("ascii"));
  EXPECT_TRUE(valid_utf8("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x93\xAC"));
  EXPECT_TRUE(valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
  EXPECT_FALSE(valid_utf8("\x80"));
  EXPECT_FALSE(valid_utf8("\xC1\xBF"));
  EXPECT_FALSE(valid_utf8("\xE0\x80\xAF"));
  EXPECT_FALSE(valid_utf8("\xF0\x80\x80\xAF"));
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(valid_utf8("\xED\xBF\xBF"));      // surrogate
  EXPECT_FALSE(valid_utf8("\xE2\x82"));
  EXPECT_FALSE(valid_utf8("\xE2\x28\xA1"));
}

}  // namespace
}  // namespace cubby::lmtp
