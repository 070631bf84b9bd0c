// The Sieve lexer; see lexer.h.
#include "sieve/lexer.h"

#include <cctype>
#include <limits>

namespace cubby::sieve {
namespace {

Failure<Error> error_at(int line, const std::string& what) {
  return fail(Error{Error::Kind::kCompile, "line " + std::to_string(line) + ": " + what});
}

bool is_identifier_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_identifier_char(char c) { return is_identifier_start(c) || (c >= '0' && c <= '9'); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string describe(const Token& token) {
  switch (token.kind) {
    case Token::Kind::kIdentifier:
      return "'" + token.text + "'";
    case Token::Kind::kTag:
      return "tag '" + token.text + "'";
    case Token::Kind::kNumber:
      return "number " + std::to_string(token.number);
    case Token::Kind::kString:
      return "a string";
    case Token::Kind::kSemicolon:
      return "';'";
    case Token::Kind::kComma:
      return "','";
    case Token::Kind::kLParen:
      return "'('";
    case Token::Kind::kRParen:
      return "')'";
    case Token::Kind::kLBracket:
      return "'['";
    case Token::Kind::kRBracket:
      return "']'";
    case Token::Kind::kLBrace:
      return "'{'";
    case Token::Kind::kRBrace:
      return "'}'";
    case Token::Kind::kEnd:
      return "the end of the script";
  }
  return "?";
}

Result<std::vector<Token>, Error> tokenize(std::string_view s) {
  std::vector<Token> out;
  int line = 1;
  size_t i = 0;
  const size_t n = s.size();
  auto push = [&](Token::Kind kind, std::string text = {}, uint64_t number = 0) {
    out.push_back(Token{kind, std::move(text), number, line});
  };
  while (i < n) {
    const char c = s[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
    } else if (c == '#') {
      while (i < n && s[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
      const int start = line;
      i += 2;
      while (i + 1 < n && !(s[i] == '*' && s[i + 1] == '/')) {
        if (s[i] == '\n') ++line;
        ++i;
      }
      if (i + 1 >= n) return error_at(start, "unterminated comment /* ... */");
      i += 2;
    } else if (c == '"') {
      const int start = line;
      std::string text;
      ++i;
      while (i < n && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < n) ++i;
        if (s[i] == '\n') {
          ++line;
          // A bare LF in a quoted string is a line end: Sieve strings use CRLF (RFC 5228 2.4.2).
          if (text.empty() || text.back() != '\r') text += '\r';
        }
        text += s[i++];
      }
      if (i >= n) return error_at(start, "unterminated string (missing '\"')");
      ++i;
      out.push_back(Token{Token::Kind::kString, std::move(text), 0, start});
    } else if (c >= '0' && c <= '9') {
      uint64_t value = 0;
      while (i < n && s[i] >= '0' && s[i] <= '9') {
        const uint64_t digit = static_cast<uint64_t>(s[i] - '0');
        if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10)
          return error_at(line, "number too large");
        value = value * 10 + digit;
        ++i;
      }
      uint64_t scale = 1;
      if (i < n) {
        switch (s[i]) {
          case 'K':
          case 'k':
            scale = 1ull << 10;
            ++i;
            break;
          case 'M':
          case 'm':
            scale = 1ull << 20;
            ++i;
            break;
          case 'G':
          case 'g':
            scale = 1ull << 30;
            ++i;
            break;
          default:
            break;
        }
      }
      if (value > std::numeric_limits<uint64_t>::max() / scale)
        return error_at(line, "number too large");
      if (i < n && is_identifier_char(s[i]))
        return error_at(line, "bad number (letters after digits)");
      push(Token::Kind::kNumber, {}, value * scale);
    } else if (c == ':') {
      size_t j = i + 1;
      if (j >= n || !is_identifier_start(s[j]))
        return error_at(line, "':' not followed by a tag name");
      while (j < n && is_identifier_char(s[j])) ++j;
      push(Token::Kind::kTag, lower(s.substr(i, j - i)));
      i = j;
    } else if (is_identifier_start(c)) {
      size_t j = i;
      while (j < n && is_identifier_char(s[j])) ++j;
      std::string word = lower(s.substr(i, j - i));
      if (word == "text" && j < n && s[j] == ':') {
        // Multi-line string: "text:" *(SP / HTAB) (hash-comment / CRLF), then lines up to ".".
        const int start = line;
        j++;
        while (j < n && (s[j] == ' ' || s[j] == '\t')) ++j;
        if (j < n && s[j] == '#') {
          while (j < n && s[j] != '\n') ++j;
        } else if (j < n && s[j] == '\r') {
          ++j;
        }
        if (j >= n || s[j] != '\n') return error_at(line, "text: must be followed by a line end");
        ++j;
        ++line;
        std::string text;
        bool ended = false;
        while (j < n) {
          size_t eol = s.find('\n', j);
          const size_t next = eol == std::string_view::npos ? n : eol + 1;
          std::string_view l = s.substr(j, (eol == std::string_view::npos ? n : eol) - j);
          if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
          j = next;
          if (eol != std::string_view::npos) ++line;
          if (l == ".") {
            ended = true;
            break;
          }
          if (!l.empty() && l[0] == '.') l.remove_prefix(1);  // dot-stuffing
          text.append(l);
          text += "\r\n";
        }
        if (!ended) return error_at(start, "unterminated text: (missing a line with a single '.')");
        out.push_back(Token{Token::Kind::kString, std::move(text), 0, start});
        i = j;
      } else {
        push(Token::Kind::kIdentifier, std::move(word));
        i = j;
      }
    } else {
      Token::Kind kind;
      switch (c) {
        case ';':
          kind = Token::Kind::kSemicolon;
          break;
        case ',':
          kind = Token::Kind::kComma;
          break;
        case '(':
          kind = Token::Kind::kLParen;
          break;
        case ')':
          kind = Token::Kind::kRParen;
          break;
        case '[':
          kind = Token::Kind::kLBracket;
          break;
        case ']':
          kind = Token::Kind::kRBracket;
          break;
        case '{':
          kind = Token::Kind::kLBrace;
          break;
        case '}':
          kind = Token::Kind::kRBrace;
          break;
        default: {
          const unsigned char u = static_cast<unsigned char>(c);
          char buf[48];
          if (u >= 0x21 && u < 0x7f) {
            snprintf(buf, sizeof buf, "unexpected character '%c'", c);
          } else {
            snprintf(buf, sizeof buf, "unexpected byte 0x%02x", u);
          }
          return error_at(line, buf);
        }
      }
      push(kind);
      ++i;
    }
  }
  push(Token::Kind::kEnd);
  return out;
}

}  // namespace cubby::sieve
