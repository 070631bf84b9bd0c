// IMAP modified UTF-7 (RFC 3501 §5.1.3): how mailbox names hold characters beyond ASCII.
//
// Printable ASCII (0x20-0x7e) stands for itself, except '&', which is written "&-". Every other
// character (controls, DEL, anything beyond ASCII) is written as '&', the modified BASE64 (',' for
// '/', no padding) of its UTF-16BE code units, and '-'; consecutive such characters share one run.
// Used for a +detail folder name, which arrives as UTF-8 in the address (SMTPUTF8).
//
// utf8_to_imap_utf7() returns nullopt when the input is not well-formed UTF-8 (overlong forms,
// surrogates, code points above U+10FFFF). imap_utf7_to_utf8() returns nullopt for anything that
// is not the canonical encoding: a bad BASE64 character, a run that is empty or ends mid-character
// or with non-zero padding bits, an unpaired surrogate, a run encoding printable ASCII, two runs in
// a row, or a raw byte outside printable ASCII; so decoding and encoding again is the identity.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cubby::store {

std::optional<std::string> utf8_to_imap_utf7(std::string_view utf8);
std::optional<std::string> imap_utf7_to_utf8(std::string_view utf7);

}  // namespace cubby::store
