// Reply: one LMTP reply (RFC 5321 §4.2), possibly multi-line.
//
// A reply is a code, an optional enhanced status code (RFC 3463, e.g. "2.1.5"), the text of its last
// line, and any preamble lines sent before it as "<code>-<line>". Cyrus's long 550 texts and the LHLO
// capability list are preambles. wire() renders the exact bytes, every line ending in CRLF.
#pragma once

#include <string>
#include <vector>

namespace cubby::lmtp {

struct Reply {
  int code = 0;
  std::string enhanced;                // "" when the reply carries none
  std::string text;                    // last line, after the enhanced code
  std::vector<std::string> preamble;  // earlier lines, without the "<code>-" prefix

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  std::string wire() const;
};

Reply make_reply(int code, std::string enhanced, std::string text);

}  // namespace cubby::lmtp
