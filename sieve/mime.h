// MIME decoding the Sieve tests need: RFC 2047 encoded-words in header values (RFC 5228 section
// 2.7.2 says header tests see them decoded), base64 and quoted-printable bodies, and charset
// conversion to UTF-8 (through the C library's iconv). Bad input never fails: what cannot be
// decoded is kept as it was.
#pragma once

#include <string>
#include <string_view>

namespace cubby::sieve {

std::string decode_base64(std::string_view s);
std::string decode_quoted_printable(std::string_view s);
// `text` in `charset` as UTF-8; unknown charsets and invalid bytes leave `text` as it is.
std::string to_utf8(std::string_view charset, std::string_view text);
// The text of an HTML document, for `body :text` (RFC 5173 5.2): tags removed (block tags become
// line breaks), <head>, <script>, <style> and comments dropped, character references decoded.
std::string html_to_text(std::string_view html);
// A header value with its encoded-words decoded to UTF-8.
std::string decode_encoded_words(std::string_view value);

}  // namespace cubby::sieve
