// Header unfolding and MIME walking for Sieve; see message.h.
#include "sieve/message.h"

#include <strings.h>

#include <cctype>

#include "sieve/mime.h"

namespace cubby::sieve {
namespace {

constexpr int kMaxMimeDepth = 20;
constexpr size_t kMaxParts = 500;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

const HeaderField* find(const std::vector<HeaderField>& header, std::string_view name) {
  for (const auto& f : header)
    if (iequals(f.name, name)) return &f;
  return nullptr;
}

void walk(std::string_view entity, int depth, std::vector<MimePart>& out);

void walk_body(const std::vector<HeaderField>& header, std::string_view body, int depth,
               std::vector<MimePart>& out) {
  if (out.size() >= kMaxParts) return;
  const HeaderField* ct = find(header, "Content-Type");
  const std::string type = ct ? content_type_of(ct->value) : "text/plain";
  const std::string boundary = ct ? parameter_of(ct->value, "boundary") : "";
  if (type.rfind("multipart/", 0) == 0 && !boundary.empty() && depth < kMaxMimeDepth) {
    // Parts lie between lines "--boundary"; "--boundary--" ends them.
    const std::string delimiter = "--" + boundary;
    size_t pos = 0;
    bool in_part = false;
    size_t part_start = 0;
    while (pos <= body.size()) {
      size_t eol = body.find('\n', pos);
      const size_t line_end = eol == std::string_view::npos ? body.size() : eol;
      std::string_view line = body.substr(pos, line_end - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.rfind(delimiter, 0) == 0) {
        const std::string_view rest = trim(line.substr(delimiter.size()));
        if (rest.empty() || rest == "--") {
          if (in_part) {
            // The line break before the delimiter belongs to the delimiter.
            size_t end = pos;
            if (end > part_start && body[end - 1] == '\n') --end;
            if (end > part_start && body[end - 1] == '\r') --end;
            walk(body.substr(part_start, end - part_start), depth + 1, out);
          }
          if (rest == "--") return;
          in_part = true;
          part_start = eol == std::string_view::npos ? body.size() : eol + 1;
        }
      }
      if (eol == std::string_view::npos) break;
      pos = eol + 1;
    }
    if (in_part) walk(body.substr(part_start), depth + 1, out);
    return;
  }
  if (type == "message/rfc822" && depth < kMaxMimeDepth) {
    walk(body, depth + 1, out);
    return;
  }
  MimePart part;
  part.type = type;
  part.charset = ct ? lower(parameter_of(ct->value, "charset")) : "";
  const HeaderField* cte = find(header, "Content-Transfer-Encoding");
  part.encoding = cte ? lower(trim(cte->value)) : "";
  part.body = body;
  out.push_back(std::move(part));
}

void walk(std::string_view entity, int depth, std::vector<MimePart>& out) {
  std::string_view body;
  auto header = parse_header(entity, &body);
  walk_body(header, body, depth, out);
}

}  // namespace

std::vector<HeaderField> parse_header(std::string_view bytes, std::string_view* body) {
  std::vector<HeaderField> header;
  size_t pos = 0;
  *body = {};
  while (pos < bytes.size()) {
    size_t eol = bytes.find('\n', pos);
    const size_t next = eol == std::string_view::npos ? bytes.size() : eol + 1;
    std::string_view line =
        bytes.substr(pos, (eol == std::string_view::npos ? bytes.size() : eol) - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      *body = bytes.substr(next);
      break;
    }
    if (line[0] == ' ' || line[0] == '\t') {
      // Unfolding: the line break goes, the whitespace stays.
      if (!header.empty()) header.back().value.append(line);
    } else if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
      std::string_view name = line.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      header.push_back(HeaderField{std::string(name), std::string(line.substr(colon + 1))});
    }
    // Anything else (no colon) is not a header field; skip it.
    pos = next;
  }
  for (auto& f : header) f.value = std::string(trim(f.value));
  return header;
}

std::string content_type_of(std::string_view value) {
  std::string_view t = value.substr(0, value.find(';'));
  t = trim(t);
  std::string type = lower(t);
  if (type.find('/') == std::string::npos) return "text/plain";
  return type;
}

std::string parameter_of(std::string_view value, std::string_view param) {
  size_t pos = value.find(';');
  while (pos != std::string_view::npos) {
    ++pos;
    const size_t eq = value.find('=', pos);
    if (eq == std::string_view::npos) return "";
    const std::string_view name = trim(value.substr(pos, eq - pos));
    size_t v = eq + 1;
    while (v < value.size() && (value[v] == ' ' || value[v] == '\t')) ++v;
    std::string result;
    size_t end;
    if (v < value.size() && value[v] == '"') {
      end = v + 1;
      while (end < value.size() && value[end] != '"') {
        if (value[end] == '\\' && end + 1 < value.size()) ++end;
        result += value[end++];
      }
      end = value.find(';', end);
    } else {
      end = value.find(';', v);
      result = std::string(
          trim(value.substr(v, end == std::string_view::npos ? std::string_view::npos : end - v)));
    }
    if (iequals(name, param)) return result;
    pos = end;
  }
  return "";
}

std::string MimePart::decoded() const {
  std::string raw;
  if (encoding == "base64") {
    raw = decode_base64(body);
  } else if (encoding == "quoted-printable") {
    raw = decode_quoted_printable(body);
  } else {
    raw = std::string(body);
  }
  return to_utf8(charset, raw);
}

Message::Message(std::string_view bytes) : bytes_(bytes) { header_ = parse_header(bytes, &body_); }

const std::vector<MimePart>& Message::parts() const {
  if (!parts_) {
    parts_.emplace();
    walk_body(header_, body_, 0, *parts_);
  }
  return *parts_;
}

std::vector<const HeaderField*> Message::fields(std::string_view name) const {
  std::vector<const HeaderField*> out;
  for (const auto& f : header_)
    if (iequals(f.name, name)) out.push_back(&f);
  return out;
}

std::vector<std::string> Message::decoded_values(std::string_view name) const {
  std::vector<std::string> out;
  for (const HeaderField* f : fields(name)) out.push_back(decode_encoded_words(f->value));
  return out;
}

}  // namespace cubby::sieve
