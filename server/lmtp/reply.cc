// Rendering of LMTP replies; see reply.h.
#include "server/lmtp/reply.h"

namespace cubby::lmtp {

std::string Reply::wire() const {
  std::string out;
  const std::string code_str = std::to_string(code);
  for (const auto& line : preamble) {
    out += code_str;
    out += '-';
    out += line;
    out += "\r\n";
  }
  out += code_str;
  out += ' ';
  if (!enhanced.empty()) {
    out += enhanced;
    if (!text.empty()) out += ' ';
  }
  out += text;
  out += "\r\n";
  return out;
}

Reply make_reply(int code, std::string enhanced, std::string text) {
  return Reply{code, std::move(enhanced), std::move(text), {}};
}

}  // namespace cubby::lmtp
