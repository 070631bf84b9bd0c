// UTF-8 <-> IMAP modified UTF-7 (RFC 3501 §5.1.3): known encodings, round trips, and refusals.
#include "store/imap_utf7.h"

#include <gtest/gtest.h>

#include <random>

namespace cubby::store {
namespace {

struct Pair {
  const char* utf8;
  const char* utf7;
};

// Encodings checked against an independent implementation (Python's base64 over UTF-16BE).
constexpr Pair kKnown[] = {
    {"", ""},
    {"INBOX", "INBOX"},
    {"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
     "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},  // RFC 3501's example
    {"Entw\xc3\xbcrfe", "Entw&APw-rfe"},
    {"\xf0\x9f\x98\x80", "&2D3eAA-"},  // U+1F600: a surrogate pair
    {"a\tb", "a&AAk-b"},                // a control character is encoded
    {"&", "&-"},
    {"Tom & Jerry", "Tom &- Jerry"},
    {"\xc3\x9c" "n" "\xc3\xaf" "c" "\xc3\xb8" "d" "\xc3\xa9" " & Co", "&ANw-n&AO8-c&APg-d&AOk- &- Co"},
    {"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", "&BB8EQAQ4BDIENQRC-"},  // Привет
    {"~", "~"},
    {" ", " "},
};

TEST(ImapUtf7, KnownEncodings) {
  for (const auto& p : kKnown) {
    auto utf7 = utf8_to_imap_utf7(p.utf8);
    ASSERT_TRUE(utf7) << p.utf7;
    EXPECT_EQ(*utf7, p.utf7);
    auto utf8 = imap_utf7_to_utf8(p.utf7);
    ASSERT_TRUE(utf8) << p.utf7;
    EXPECT_EQ(*utf8, p.utf8);
  }
}

TEST(ImapUtf7, RefusesMalformedUtf8) {
  const char* bad[] = {
      "\x80",              // a lone continuation byte
      "\xc3",              // truncated
      "abc\xe6\x97",       // truncated at the end
      "\xc0\xaf",          // overlong '/'
      "\xe0\x80\xaf",      // overlong
      "\xed\xa0\x80",      // a UTF-16 surrogate
      "\xf4\x90\x80\x80",  // above U+10FFFF
      "\xff",
      "\xc3(",  // a continuation byte missing
  };
  for (const char* s : bad) EXPECT_FALSE(utf8_to_imap_utf7(s)) << s;
}

TEST(ImapUtf7, RefusesWhatIsNotCanonical) {
  const char* bad[] = {
      "&",           // no end
      "&U,BTFw",     // no end
      "&-&-&",       // an open run at the end
      "&U,BTF-",     // ends mid-character
      "&U,BTFx-",    // non-zero padding bits
      "&AGE-",       // 'a' must stand for itself
      "&2D0-",       // an unpaired high surrogate
      "&3gA-",       // a lone low surrogate
      "&U,B!Fw-",    // not BASE64
      "&U/BTFw-",    // '/' is not modified BASE64
      "&U,A-&U,A-",  // two runs in a row
      "a\tb",        // a raw control character
      "\xc3\xbc",    // a raw 8-bit byte
  };
  for (const char* s : bad) EXPECT_FALSE(imap_utf7_to_utf8(s)) << s;
}

TEST(ImapUtf7, SeparatorsAreNeverInsideAnEncodedRun) {
  // So a +detail may be encoded before or after it is split on '/' or '.'.
  auto utf7 = utf8_to_imap_utf7("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xf0\x9f\x98\x80\xc3\xbc");
  ASSERT_TRUE(utf7);
  EXPECT_EQ(utf7->find('/'), std::string::npos);
  EXPECT_EQ(utf7->find('.'), std::string::npos);
}

TEST(ImapUtf7, RandomTextRoundTrips) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<uint32_t> plane(0, 3), ascii(0x00, 0x7f), bmp(0x80, 0xffff),
      astral(0x10000, 0x10ffff), length(0, 12);
  for (int n = 0; n < 2000; ++n) {
    std::u32string text;
    const uint32_t len = length(rng);
    for (uint32_t k = 0; k < len; ++k) {
      uint32_t cp;
      switch (plane(rng)) {
        case 0:
        case 1:
          cp = ascii(rng);
          if (cp == 0) cp = '&';
          break;
        case 2:
          do cp = bmp(rng);
          while (cp >= 0xd800 && cp <= 0xdfff);
          break;
        default:
          cp = astral(rng);
      }
      text += cp;
    }
    std::string utf8;
    for (char32_t cp : text) {
      if (cp < 0x80) {
        utf8 += static_cast<char>(cp);
      } else if (cp < 0x800) {
        utf8 += static_cast<char>(0xc0 | (cp >> 6));
        utf8 += static_cast<char>(0x80 | (cp & 0x3f));
      } else if (cp < 0x10000) {
        utf8 += static_cast<char>(0xe0 | (cp >> 12));
        utf8 += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        utf8 += static_cast<char>(0x80 | (cp & 0x3f));
      } else {
        utf8 += static_cast<char>(0xf0 | (cp >> 18));
        utf8 += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        utf8 += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        utf8 += static_cast<char>(0x80 | (cp & 0x3f));
      }
    }
    auto utf7 = utf8_to_imap_utf7(utf8);
    ASSERT_TRUE(utf7);
    for (char c : *utf7) ASSERT_TRUE(c >= 0x20 && c <= 0x7e) << *utf7;
    auto back = imap_utf7_to_utf8(*utf7);
    ASSERT_TRUE(back) << *utf7;
    EXPECT_EQ(*back, utf8);
  }
}

}  // namespace
}  // namespace cubby::store
