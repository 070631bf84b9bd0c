// Decoding of encoded-character sequences; see encoded_character.h.
#include "sieve/encoded_character.h"

#include <cctype>
#include <cstdint>
#include <optional>
#include <vector>

namespace cubby::sieve {
namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

// Splits the body between the prefix and "}" into hex words; nullopt when not well formed.
std::optional<std::vector<std::string_view>> words(std::string_view body) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < body.size()) {
    if (blank(body[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < body.size() && !blank(body[j])) {
      if (hex_value(body[j]) < 0) return std::nullopt;
      ++j;
    }
    out.push_back(body.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

Result<std::string, std::string> decode_encoded_characters(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '{') {
      const std::string_view rest = s.substr(i + 2);
      const bool hex = starts_with_ci(rest, "hex:");
      const bool uni = !hex && starts_with_ci(rest, "unicode:");
      const size_t close = s.find('}', i);
      if ((hex || uni) && close != std::string_view::npos) {
        const size_t start = i + 2 + (hex ? 4 : 8);
        auto ws = words(s.substr(start, close - start));
        bool good = ws.has_value() && !ws->empty();
        std::string decoded;
        if (good && hex) {
          for (auto w : *ws) {
            if (w.size() != 2) {
              good = false;
              break;
            }
            decoded += static_cast<char>(hex_value(w[0]) * 16 + hex_value(w[1]));
          }
        } else if (good) {
          for (auto w : *ws) {
            uint64_t cp = 0;
            for (char c : w) {
              cp = cp * 16 + static_cast<uint64_t>(hex_value(c));
              if (cp > 0x10FFFF) break;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
              return fail(std::string("${unicode:") + std::string(w) +
                          "} is not a Unicode character");
            append_utf8(decoded, static_cast<uint32_t>(cp));
          }
        }
        if (good) {
          out += decoded;
          i = close + 1;
          continue;
        }
      }
    }
    out += s[i++];
  }
  return out;
}

}  // namespace cubby::sieve
