// The Sieve lexer (RFC 5228 section 8.1): script bytes in, tokens out, each with its line.
//
// Strings come out with their escapes undone: a quoted string's "\x" is "x"; a multi-line
// `text:` string loses its terminating "." line and the leading dot of dot-stuffed lines, and its
// line ends become CRLF (RFC 5228 2.4.2). Numbers carry their K/M/G multiplier applied. Comments
// are dropped. The lexer stops at the first error, which reads "line N: what is wrong".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.h"
#include "sieve/sieve.h"

namespace cubby::sieve {

struct Token {
  enum class Kind {
    kIdentifier,  // text: lower-cased
    kTag,         // text: ":name", lower-cased
    kNumber,      // number
    kString,      // text: the decoded string
    kSemicolon,
    kComma,
    kLParen,
    kRParen,
    kLBracket,
    kRBracket,
    kLBrace,
    kRBrace,
    kEnd
  };
  Kind kind;
  std::string text;
  uint64_t number = 0;
  int line = 0;
};

// A readable name for a token, for "line N: expected ';' before 'fileinto'".
std::string describe(const Token& token);

Result<std::vector<Token>, Error> tokenize(std::string_view source);

}  // namespace cubby::sieve
