// Parsing of the MAIL FROM and RCPT TO arguments: the reverse/forward path and its parameters.
//
// Contract: parse_mail() takes what follows "MAIL " and parse_rcpt() what follows "RCPT " on a
// command line (CRLF removed). Each returns the parsed command or the exact Reply Cyrus lmtpd
// gives for the fault (501 5.5.4 Syntax error in parameters, 501 5.5.4 Unrecognized parameters,
// 501 5.5.4 Unrecognized BODY type, 501 5.5.2 SIZE requires a value, 553 5.6.7 for non-ASCII
// without SMTPUTF8). Limits that depend on configuration (SIZE= against the maximum, the number of
// recipients) are the caller's.
//
// The path grammar is Cyrus's parseaddr, a strict RFC 5321 subset: `<>`, or `<` [source route
// `@dom,@dom:`] local-part [`@` domain] `>`. The local part is a quoted string (backslash escapes)
// or a run of printable ASCII other than `<>()[]\,;:"@` and space (backslash escapes allowed);
// the domain is letters, digits, `.` and `-`, or an address literal `[1.2.3.4]` / `[IPv6:...]`.
// Bytes >= 0x80 are allowed in the local part and the domain only when they form valid UTF-8, and
// only under SMTPUTF8 (RFC 6531): MAIL must carry the SMTPUTF8 parameter, and RCPT is judged by
// the transaction's MAIL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "conf/result.h"
#include "server/lmtp/reply.h"

namespace cubby::lmtp {

// A path as parsed: the address between the angle brackets with any source route removed
// ("" for the null path `<>`).
struct Path {
  std::string address;
  bool has_8bit = false;  // contains bytes >= 0x80 (then valid UTF-8)
};

// Parses a path at the start of `s`, which must begin with '<'. On success sets *consumed to the
// number of bytes up to and including the closing '>'. Returns nullopt on a syntax error.
std::optional<Path> parse_path(std::string_view s, size_t* consumed);

struct MailCommand {
  Path from;
  bool has_size = false;
  uint64_t size = 0;      // SIZE=; UINT64_MAX when the number does not fit
  std::string auth_id;    // AUTH= decoded; "" when absent, `<>` or malformed (as Cyrus)
  bool smtputf8 = false;  // SMTPUTF8 parameter
};

struct RcptCommand {
  Path to;  // never the null path
  bool ignore_quota = false;
};

// `args` is what follows "MAIL " (it must start with "FROM:<", case-insensitively).
Result<MailCommand, Reply> parse_mail(std::string_view args);
// `args` is what follows "RCPT " (it must start with "TO:<"); `smtputf8` is the MAIL's parameter.
Result<RcptCommand, Reply> parse_rcpt(std::string_view args, bool smtputf8);

// Decodes RFC 3461 xtext (`+XX` hex escapes, printable ASCII otherwise; '+' and '=' only as
// escapes). Returns nullopt when malformed, or when the result holds a control character (it is
// written into the Received header).
std::optional<std::string> decode_xtext(std::string_view xtext);

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace cubby::lmtp
