// The Sieve lexer and parser (RFC 5228 sections 2 and 8): tokens, strings, numbers, comments,
// and the "line N: ..." errors a script author sees.
#include "sieve/lexer.h"

#include <gtest/gtest.h>

#include "sieve/parser.h"

namespace cubby::sieve {
namespace {

std::vector<Token> lex(std::string_view s) {
  auto r = tokenize(s);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : std::vector<Token>{};
}

std::string lex_error(std::string_view s) {
  auto r = tokenize(s);
  return r.ok() ? "(no error)" : r.error().message;
}

TEST(SieveLexer, NumbersTakeTheirMultiplier) {
  auto t = lex("1 2K 3M 4G 5k");
  ASSERT_EQ(t.size(), 6u);
  EXPECT_EQ(t[0].number, 1u);
  EXPECT_EQ(t[1].number, 2048u);
  EXPECT_EQ(t[2].number, 3u << 20);
  EXPECT_EQ(t[3].number, 4ull << 30);
  EXPECT_EQ(t[4].number, 5u * 1024);
}

TEST(SieveLexer, NumberOverflowIsAnError) {
  EXPECT_EQ(lex_error("99999999999999999999"), "line 1: number too large");
  EXPECT_EQ(lex_error("18014398509481984G"), "line 1: number too large");
}

TEST(SieveLexer, QuotedStringEscapes) {
  // RFC 5228 2.4.2: "\\" is a backslash, "\"" a quote, any other "\x" is just "x".
  auto t = lex(R"("a\"b\\c\d")");
  ASSERT_EQ(t[0].kind, Token::Kind::kString);
  EXPECT_EQ(t[0].text, "a\"b\\cd");
}

TEST(SieveLexer, MultiLineStringUnstuffsDots) {
  auto t = lex("text: # comment\r\nline one\r\n..dotted\r\n.\r\n;");
  ASSERT_EQ(t[0].kind, Token::Kind::kString);
  EXPECT_EQ(t[0].text, "line one\r\n.dotted\r\n");
  EXPECT_EQ(t[1].kind, Token::Kind::kSemicolon);
  EXPECT_EQ(t[1].line, 5);
}

TEST(SieveLexer, MultiLineStringWithBareLineFeeds) {
  auto t = lex("text:\nhello\n.\n");
  EXPECT_EQ(t[0].text, "hello\r\n");
}

TEST(SieveLexer, CommentsAreSkippedAndLinesCounted) {
  auto t = lex("# one\n/* two\nthree */ keep;");
  ASSERT_EQ(t[0].kind, Token::Kind::kIdentifier);
  EXPECT_EQ(t[0].text, "keep");
  EXPECT_EQ(t[0].line, 3);
}

TEST(SieveLexer, Errors) {
  EXPECT_EQ(lex_error("keep;\n\"open"), "line 2: unterminated string (missing '\"')");
  EXPECT_EQ(lex_error("/* never closed"), "line 1: unterminated comment /* ... */");
  EXPECT_EQ(lex_error("text:\nno end\n"),
            "line 1: unterminated text: (missing a line with a single '.')");
  EXPECT_EQ(lex_error("keep;\n\nkeep @"), "line 3: unexpected character '@'");
  EXPECT_EQ(lex_error("size :over 1X;"), "line 1: bad number (letters after digits)");
}

TEST(SieveLexer, IdentifiersAndTagsAreCaseInsensitive) {
  auto t = lex("FileInto :COPY");
  EXPECT_EQ(t[0].text, "fileinto");
  EXPECT_EQ(t[1].text, ":copy");
}

}  // namespace
}  // namespace cubby::sieve
