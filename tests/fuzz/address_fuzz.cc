// Fuzz target: the MAIL FROM / RCPT TO argument parser (server/lmtp/address.h), xtext, the UTF-8
// check, and the recipient-to-mailbox mapping (store/recipient.h) that an accepted RCPT address
// goes through.
//
// Input: byte 0 chooses the variant (MAIL, RCPT with or without SMTPUTF8, a bare path, xtext,
// UTF-8; its value mod 6) and the address rules (bits 4-7: lmtp_downcase_rcpt, unixhierarchysep,
// virtdomains with defaultdomain example.com, postuser "bb"); the rest is the argument text. Checks: a parsed path never holds
// CR, LF or NUL (it is written into Return-Path and Received), is 7-bit unless the transaction has
// SMTPUTF8 and then is valid UTF-8; a decoded AUTH= / xtext holds no control character;
// valid_utf8 agrees with a straightforward reference decoder; a mailbox an address maps to has a
// directory inside the partition (no "..", no leading '/', no empty component, no control byte).
#include <cstdint>
#include <string>
#include <string_view>

#include "server/lmtp/address.h"
#include "store/recipient.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace cubby;

bool has_ctl(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

bool has_8bit(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return true;
  }
  return false;
}

// RFC 3629 UTF-8, written the long way for comparison.
bool reference_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    int n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= n; ++k) {
      const unsigned char d = s[i + k];
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;  // overlong
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;                       // surrogate
    if (cp > 0x10FFFF) return false;
    i += n + 1;
  }
  return true;
}

void check_path(const lmtp::Path& p, bool smtputf8, std::string_view input) {
  FUZZ_CHECK(p.address.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos,
             "CR, LF or NUL in a parsed path from [%.*s]", int(input.size()), input.data());
  // has_8bit also counts the source route, which is dropped from the address.
  FUZZ_CHECK(p.has_8bit || !has_8bit(p.address), "has_8bit not set for an 8-bit address");
  if (p.has_8bit) {
    FUZZ_CHECK(smtputf8, "8-bit path accepted without SMTPUTF8");
    FUZZ_CHECK(lmtp::valid_utf8(p.address), "8-bit path is not UTF-8");
  }
}

void check_mapping(const std::string& address, uint8_t flags) {
  store::AddressRules rules;
  rules.downcase = (flags & 0x10) != 0;
  rules.unix_sep = (flags & 0x20) != 0;
  rules.virtdomains = (flags & 0x40) != 0;
  rules.default_domain = "example.com";
  if (flags & 0x80) rules.postuser = "bb";
  auto mapped = store::map_recipient(address, rules);
  if (!mapped.ok()) return;
  std::vector<const store::MailboxName*> names = {&mapped->mailbox};
  if (mapped->folder) names.push_back(&*mapped->folder);
  for (const store::MailboxName* n : names) {
    for (bool hash : {false, true}) {
      const std::string dir = n->relative_dir(hash);
      FUZZ_CHECK(!dir.empty() && dir[0] != '/', "directory %s is not relative", dir.c_str());
      FUZZ_CHECK(!has_ctl(dir), "control character in directory of %s", address.c_str());
      size_t start = 0;
      for (;;) {
        const size_t slash = dir.find('/', start);
        const std::string part = dir.substr(start, slash == std::string::npos ? slash : slash - start);
        FUZZ_CHECK(!part.empty() && part != "." && part != "..",
                   "directory %s of address %s escapes or is malformed", dir.c_str(),
                   address.c_str());
        if (slash == std::string::npos) break;
        start = slash + 1;
      }
    }
    FUZZ_CHECK(n->is_user() != mapped->shared, "%s: user/shared mismatch", address.c_str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (flags % 6) {
    case 0: {
      auto mail = lmtp::parse_mail(text);
      if (mail.ok()) {
        check_path(mail->from, mail->smtputf8, text);
        FUZZ_CHECK(!has_ctl(mail->auth_id), "control character in AUTH=");
        FUZZ_CHECK(mail->has_size || mail->size == 0, "SIZE without has_size");
      } else {
        FUZZ_CHECK(mail.error().code >= 500 && mail.error().code < 600, "MAIL refused with %d",
                   mail.error().code);
      }
      break;
    }
    case 1:
    case 2: {
      const bool smtputf8 = flags % 6 == 2;
      auto rcpt = lmtp::parse_rcpt(text, smtputf8);
      if (rcpt.ok()) {
        check_path(rcpt->to, smtputf8, text);
        FUZZ_CHECK(!rcpt->to.address.empty(), "RCPT with the null path accepted");
        check_mapping(rcpt->to.address, flags);
      } else {
        FUZZ_CHECK(rcpt.error().code >= 500 && rcpt.error().code < 600, "RCPT refused with %d",
                   rcpt.error().code);
      }
      break;
    }
    case 3: {
      size_t consumed = 0;
      if (!text.empty() && text[0] == '<') {
        auto path = lmtp::parse_path(text, &consumed);
        if (path) {
          FUZZ_CHECK(consumed >= 2 && consumed <= text.size() && text[consumed - 1] == '>',
                     "parse_path consumed %zu of %zu", consumed, text.size());
          check_path(*path, true, text);
        }
      }
      break;
    }
    case 4: {
      auto decoded = lmtp::decode_xtext(text);
      if (decoded) FUZZ_CHECK(!has_ctl(*decoded), "control character from xtext");
      break;
    }
    case 5:
      FUZZ_CHECK(lmtp::valid_utf8(text) == reference_utf8(text), "valid_utf8 says %d",
                 int(lmtp::valid_utf8(text)));
      check_mapping(std::string(text), flags);
      break;
  }
  return 0;
}
