// The message a Sieve script looks at: an RFC 5322 header (unfolded, looked up by name without
// regard to case) and a MIME body walked into its leaf parts (RFC 2045/2046) for the body test.
//
// A Message views the bytes it was parsed from: they must outlive it. It belongs to one
// evaluation (parts() fills a cache on first use). Parsing never fails; a
// malformed header line is skipped, a multipart without its boundary is one part.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cubby::sieve {

struct HeaderField {
  std::string name;   // as written
  std::string value;  // unfolded (RFC 5322 2.2.3), leading and trailing whitespace removed
};

// One leaf of the MIME tree.
struct MimePart {
  std::string type;       // "text/plain", lower-cased; "text/plain" when the part has none
  std::string charset;    // lower-cased, "" when not given
  std::string encoding;   // Content-Transfer-Encoding, lower-cased
  std::string_view body;  // undecoded
  // The body decoded (transfer encoding undone, charset converted to UTF-8).
  std::string decoded() const;
};

class Message {
 public:
  explicit Message(std::string_view bytes);

  // Every field named `name` (any case), in order; values still MIME-encoded.
  std::vector<const HeaderField*> fields(std::string_view name) const;
  // Every value of `name`, encoded-words decoded (what the header test compares).
  std::vector<std::string> decoded_values(std::string_view name) const;
  bool has(std::string_view name) const { return !fields(name).empty(); }
  const std::vector<HeaderField>& header() const { return header_; }

  size_t size() const { return bytes_.size(); }
  std::string_view body() const { return body_; }  // everything after the empty line
  // The leaf parts, walked on first use (only the body test needs them).
  const std::vector<MimePart>& parts() const;

 private:
  std::string_view bytes_;
  std::string_view body_;
  std::vector<HeaderField> header_;
  mutable std::optional<std::vector<MimePart>> parts_;  // not thread-safe: one Message per run
};

// Splits "type/subtype; name=value; ..." and returns the lower-cased type and the parameter
// `param` (unquoted; "" when absent).
std::string content_type_of(std::string_view value);
std::string parameter_of(std::string_view value, std::string_view param);

// Parses a header block (up to the first empty line) of `bytes`; sets `body` to what follows.
std::vector<HeaderField> parse_header(std::string_view bytes, std::string_view* body);

}  // namespace cubby::sieve
