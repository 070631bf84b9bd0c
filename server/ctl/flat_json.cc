// read_flat_json: see flat_json.h.
#include "server/ctl/flat_json.h"

#include <cctype>
#include <charconv>

namespace cubby::ctl {
namespace {

class Reader {
 public:
  explicit Reader(std::string_view text) : s_(text) {}

  Result<std::vector<FlatObject>, std::string> document() {
    std::vector<FlatObject> out;
    skip_space();
    if (peek() == '[') {
      ++i_;
      skip_space();
      if (peek() == ']') {
        ++i_;
      } else {
        for (;;) {
          auto o = object();
          if (!o.ok()) return fail(o.error());
          out.push_back(std::move(o.value()));
          skip_space();
          if (peek() == ',') {
            ++i_;
            continue;
          }
          if (peek() != ']') return fail(where("',' or ']' expected"));
          ++i_;
          break;
        }
      }
    } else {
      auto o = object();
      if (!o.ok()) return fail(o.error());
      out.push_back(std::move(o.value()));
    }
    skip_space();
    if (i_ != s_.size()) return fail(where("text after the end"));
    return out;
  }

 private:
  Result<FlatObject, std::string> object() {
    FlatObject o;
    skip_space();
    if (peek() != '{') return fail(where("'{' expected"));
    ++i_;
    skip_space();
    if (peek() == '}') {
      ++i_;
      return o;
    }
    for (;;) {
      skip_space();
      auto key = string();
      if (!key.ok()) return fail(key.error());
      skip_space();
      if (peek() != ':') return fail(where("':' expected"));
      ++i_;
      skip_space();
      auto value = scalar();
      if (!value.ok()) return fail(value.error());
      o[key.value()] = value.value();
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != '}') return fail(where("',' or '}' expected"));
      ++i_;
      return o;
    }
  }

  Result<std::string, std::string> scalar() {
    if (peek() == '"') return string();
    const size_t start = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' ||
                              s_[i_] == '+' || s_[i_] == '.')) {
      ++i_;
    }
    const std::string word(s_.substr(start, i_ - start));
    if (word.empty()) return fail(where("a value expected"));
    if (word == "null") return std::string();
    if (word == "true" || word == "false" ||
        word.find_first_not_of("0123456789-+.eE") == std::string::npos) {
      return word;
    }
    return fail(where("not a flat value: " + word));
  }

  Result<std::string, std::string> string() {
    if (peek() != '"') return fail(where("'\"' expected"));
    ++i_;
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) break;
      c = s_[i_++];
      switch (c) {
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          // cubbyctl escapes only control characters and DEL this way (conf/json.h).
          if (i_ + 4 > s_.size()) return fail(where("short \\u escape"));
          unsigned code = 0;
          const char* first = s_.data() + i_;
          auto [end, ec] = std::from_chars(first, first + 4, code, 16);
          if (ec != std::errc() || end != first + 4 || code > 0x7f) {
            return fail(where("\\u escape other than \\u0000 to \\u007f"));
          }
          i_ += 4;
          out += static_cast<char>(code);
          break;
        }
        default:
          out += c;  // '"', '\\', '/'
      }
    }
    if (i_ >= s_.size()) return fail(where("unterminated string"));
    ++i_;
    return out;
  }

  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  std::string where(const std::string& what) const {
    return "JSON at byte " + std::to_string(i_) + ": " + what;
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

Result<std::vector<FlatObject>, std::string> read_flat_json(std::string_view text) {
  return Reader(text).document();
}

}  // namespace cubby::ctl
