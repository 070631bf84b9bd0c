// RFC 5228 section 2.4.2.4, "encoded-character": "${hex:41 42}" and "${unicode:263A}" in a
// string stand for the octets / the UTF-8 of the code points. A sequence that is not well formed
// is left as it is; a code point that is not a Unicode scalar value is an error (the RFC's rule).
#pragma once

#include <string>
#include <string_view>

#include "conf/result.h"

namespace cubby::sieve {

Result<std::string, std::string> decode_encoded_characters(std::string_view s);

// Appends the UTF-8 encoding of `cp` (a Unicode scalar value) to `out`.
void append_utf8(std::string& out, uint32_t cp);

}  // namespace cubby::sieve
