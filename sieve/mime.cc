// MIME decoding; see mime.h.
#include "sieve/mime.h"

#include <iconv.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <optional>

#include "sieve/encoded_character.h"

namespace cubby::sieve {
namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// One encoded-word "=?charset?B|Q?text?=" starting at s[i]; its decoded text and its end.
std::optional<std::pair<std::string, size_t>> encoded_word(std::string_view s, size_t i) {
  if (s.compare(i, 2, "=?") != 0) return std::nullopt;
  const size_t q1 = s.find('?', i + 2);
  if (q1 == std::string_view::npos || q1 + 2 >= s.size() || s[q1 + 2] != '?') return std::nullopt;
  const char enc = static_cast<char>(std::toupper(static_cast<unsigned char>(s[q1 + 1])));
  if (enc != 'B' && enc != 'Q') return std::nullopt;
  const size_t end = s.find("?=", q1 + 3);
  if (end == std::string_view::npos) return std::nullopt;
  std::string_view charset = s.substr(i + 2, q1 - (i + 2));
  if (auto star = charset.find('*'); star != std::string_view::npos)
    charset = charset.substr(0, star);
  const std::string_view text = s.substr(q1 + 3, end - (q1 + 3));
  if (text.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
  std::string raw;
  if (enc == 'B') {
    raw = decode_base64(text);
  } else {
    for (size_t k = 0; k < text.size(); ++k) {
      if (text[k] == '_') {
        raw += ' ';
      } else if (text[k] == '=' && k + 2 < text.size() && hex(text[k + 1]) >= 0 &&
                 hex(text[k + 2]) >= 0) {
        raw += static_cast<char>(hex(text[k + 1]) * 16 + hex(text[k + 2]));
        k += 2;
      } else {
        raw += text[k];
      }
    }
  }
  return std::make_pair(to_utf8(charset, raw), end + 2);
}

}  // namespace

std::string decode_base64(std::string_view s) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else if (c == '=')
      break;
    else
      continue;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::string decode_quoted_printable(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out += s[i];
      continue;
    }
    if (i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else if (i + 1 < s.size() && (s[i + 1] == '\r' || s[i + 1] == '\n')) {
      // Soft line break.
      ++i;
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string to_utf8(std::string_view charset, std::string_view text) {
  const std::string cs = lower(charset);
  if (cs.empty() || cs == "utf-8" || cs == "utf8" || cs == "us-ascii" || cs == "ascii")
    return std::string(text);
  iconv_t cd = iconv_open("UTF-8", cs.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return std::string(text);
  std::string out(text.size() * 4 + 16, '\0');
  char* in = const_cast<char*>(text.data());
  size_t in_left = text.size();
  char* o = out.data();
  size_t out_left = out.size();
  const size_t r = iconv(cd, &in, &in_left, &o, &out_left);
  iconv_close(cd);
  if (r == static_cast<size_t>(-1)) return std::string(text);
  out.resize(out.size() - out_left);
  return out;
}

std::string html_to_text(std::string_view html) {
  std::string out;
  size_t i = 0;
  auto skip_to = [&](std::string_view end) {
    size_t j = i;
    while (j < html.size()) {
      if (html.size() - j >= end.size() &&
          strncasecmp(html.data() + j, end.data(), end.size()) == 0)
        break;
      ++j;
    }
    i = std::min(html.size(), j + end.size());
  };
  while (i < html.size()) {
    const char c = html[i];
    if (c == '<') {
      if (html.compare(i, 4, "<!--") == 0) {
        skip_to("-->");
        continue;
      }
      size_t j = i + 1;
      const bool closing = j < html.size() && html[j] == '/';
      if (closing) ++j;
      size_t k = j;
      while (k < html.size() && std::isalnum(static_cast<unsigned char>(html[k]))) ++k;
      const std::string name = lower(html.substr(j, k - j));
      const size_t close = html.find('>', i);
      i = close == std::string_view::npos ? html.size() : close + 1;
      if (!closing && (name == "script" || name == "style" || name == "head")) {
        skip_to("</" + name + ">");
        continue;
      }
      static const char* kBlocks[] = {"br", "p",  "div", "tr",    "li", "h1", "h2",        "h3",
                                      "h4", "h5", "h6",  "table", "ul", "ol", "blockquote"};
      for (const char* b : kBlocks) {
        if (name == b) {
          if (!out.empty() && out.back() != '\n') out += '\n';
          break;
        }
      }
    } else if (c == '&') {
      const size_t semi = html.find(';', i);
      if (semi != std::string_view::npos && semi - i <= 10) {
        const std::string entity = lower(html.substr(i + 1, semi - i - 1));
        static const struct {
          const char* name;
          const char* text;
        } kNamed[] = {{"amp", "&"},   {"lt", "<"},   {"gt", ">"},
                      {"quot", "\""}, {"apos", "'"}, {"nbsp", "\xC2\xA0"}};
        bool done = false;
        for (const auto& n : kNamed) {
          if (entity == n.name) {
            out += n.text;
            done = true;
          }
        }
        if (!done && entity.size() > 1 && entity[0] == '#') {
          char* end = nullptr;
          const bool hex = entity[1] == 'x';
          const unsigned long cp =
              std::strtoul(entity.c_str() + (hex ? 2 : 1), &end, hex ? 16 : 10);
          if (end && *end == '\0' && cp > 0 && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF)) {
            append_utf8(out, static_cast<uint32_t>(cp));
            done = true;
          }
        }
        if (done) {
          i = semi + 1;
          continue;
        }
      }
      out += c;
      ++i;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

std::string decode_encoded_words(std::string_view value) {
  if (value.find("=?") == std::string_view::npos) return std::string(value);
  std::string out;
  size_t i = 0;
  bool last_was_word = false;
  std::string pending_space;
  while (i < value.size()) {
    if (auto w = encoded_word(value, i)) {
      if (!last_was_word) out += pending_space;  // whitespace between encoded-words is dropped
      pending_space.clear();
      out += w->first;
      i = w->second;
      last_was_word = true;
      continue;
    }
    const char c = value[i++];
    if (c == ' ' || c == '\t') {
      pending_space += c;
      continue;
    }
    out += pending_space;
    pending_space.clear();
    out += c;
    last_was_word = false;
  }
  out += pending_space;
  return out;
}

}  // namespace cubby::sieve
