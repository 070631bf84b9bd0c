// Base64 (RFC 4648, with padding) for SASL exchanges on the LMTP wire (RFC 4954).
//
// decode_base64() is strict: only the standard alphabet, a length that is a multiple of four and
// at most two '=' at the end; anything else (blanks included) is nullopt. Both are built on
// OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cubby::lmtp {

std::string encode_base64(std::string_view bytes);
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace cubby::lmtp
