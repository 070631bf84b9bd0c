// UTF-8 <-> IMAP modified UTF-7; see imap_utf7.h.
#include "store/imap_utf7.h"

#include <cstdint>
#include <vector>

namespace cubby::store {
namespace {

constexpr char kBase64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == ',') return 63;
  return -1;
}

bool printable(uint32_t c) { return c >= 0x20 && c <= 0x7e; }

// Decodes one UTF-8 character at s[*i]; nullopt when malformed.
std::optional<uint32_t> next_utf8(std::string_view s, size_t* i) {
  const auto b0 = static_cast<unsigned char>(s[*i]);
  if (b0 < 0x80) {
    ++*i;
    return b0;
  }
  int extra;
  uint32_t cp, min;
  if ((b0 & 0xe0) == 0xc0) {
    extra = 1, cp = b0 & 0x1f, min = 0x80;
  } else if ((b0 & 0xf0) == 0xe0) {
    extra = 2, cp = b0 & 0x0f, min = 0x800;
  } else if ((b0 & 0xf8) == 0xf0) {
    extra = 3, cp = b0 & 0x07, min = 0x10000;
  } else {
    return std::nullopt;
  }
  if (*i + extra >= s.size()) return std::nullopt;
  for (int k = 1; k <= extra; ++k) {
    const auto b = static_cast<unsigned char>(s[*i + k]);
    if ((b & 0xc0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return std::nullopt;
  *i += extra + 1;
  return cp;
}

void append_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xc0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    *out += static_cast<char>(0xe0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    *out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    *out += static_cast<char>(0xf0 | (cp >> 18));
    *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    *out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// Writes UTF-16 code units as one modified BASE64 run, '&' and '-' included.
void append_run(const std::vector<uint16_t>& units, std::string* out) {
  *out += '&';
  uint32_t bits = 0;
  int nbits = 0;
  for (uint16_t u : units) {
    bits = (bits << 16) | u;
    nbits += 16;
    while (nbits >= 6) {
      nbits -= 6;
      *out += kBase64[(bits >> nbits) & 0x3f];
    }
    bits &= (1u << nbits) - 1;
  }
  if (nbits > 0) *out += kBase64[(bits << (6 - nbits)) & 0x3f];
  *out += '-';
}

}  // namespace

std::optional<std::string> utf8_to_imap_utf7(std::string_view utf8) {
  std::string out;
  std::vector<uint16_t> run;
  size_t i = 0;
  while (i < utf8.size()) {
    auto cp = next_utf8(utf8, &i);
    if (!cp) return std::nullopt;
    if (printable(*cp)) {
      if (!run.empty()) {
        append_run(run, &out);
        run.clear();
      }
      out += static_cast<char>(*cp);
      if (*cp == '&') out += '-';
      continue;
    }
    if (*cp >= 0x10000) {
      const uint32_t v = *cp - 0x10000;
      run.push_back(static_cast<uint16_t>(0xd800 | (v >> 10)));
      run.push_back(static_cast<uint16_t>(0xdc00 | (v & 0x3ff)));
    } else {
      run.push_back(static_cast<uint16_t>(*cp));
    }
  }
  if (!run.empty()) append_run(run, &out);
  return out;
}

std::optional<std::string> imap_utf7_to_utf8(std::string_view utf7) {
  std::string out;
  size_t i = 0;
  bool after_run = false;  // the previous thing was a run: another may not follow at once
  while (i < utf7.size()) {
    const char c = utf7[i];
    if (!printable(static_cast<unsigned char>(c))) return std::nullopt;
    if (c != '&') {
      out += c;
      ++i;
      after_run = false;
      continue;
    }
    const size_t end = utf7.find('-', i + 1);
    if (end == std::string_view::npos) return std::nullopt;
    if (end == i + 1) {  // "&-"
      out += '&';
      i = end + 1;
      after_run = false;
      continue;
    }
    if (after_run) return std::nullopt;
    uint32_t bits = 0;
    int nbits = 0;
    std::vector<uint16_t> units;
    for (size_t k = i + 1; k < end; ++k) {
      const int v = base64_value(utf7[k]);
      if (v < 0) return std::nullopt;
      bits = (bits << 6) | static_cast<uint32_t>(v);
      nbits += 6;
      if (nbits >= 16) {
        nbits -= 16;
        units.push_back(static_cast<uint16_t>(bits >> nbits));
        bits &= (1u << nbits) - 1;
      }
    }
    if (nbits >= 6 || bits != 0 || units.empty()) return std::nullopt;  // padding must be zero
    for (size_t k = 0; k < units.size(); ++k) {
      uint32_t cp = units[k];
      if (cp >= 0xd800 && cp <= 0xdbff) {
        if (k + 1 >= units.size() || units[k + 1] < 0xdc00 || units[k + 1] > 0xdfff) {
          return std::nullopt;
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (units[++k] - 0xdc00);
      } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        return std::nullopt;
      } else if (printable(cp)) {
        return std::nullopt;  // printable ASCII must stand for itself
      }
      append_utf8(cp, &out);
    }
    i = end + 1;
    after_run = true;
  }
  return out;
}

}  // namespace cubby::store
