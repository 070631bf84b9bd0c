// What the end-to-end tests send and what they expect Cubby to store.
//
// A stored message is `Return-Path: <from>` CRLF, the three-line Received header (its date
// changes, so it is matched by pattern), then the client's content exactly (CRLF line ends,
// unstuffed). The test messages carry their own Message-ID and Date, so Cubby adds nothing else.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cubby::e2e {

// A small RFC 5322 message with CRLF line ends, the given Message-ID (without <>) and a body of
// `body_lines` lines, some of which start with '.' (so dot-stuffing is exercised).
std::string test_message(const std::string& message_id, int body_lines = 20);

// Checks `stored` against what Cubby must write for `content` received from `from` over a
// connection described as `client_host` ("[unix socket]", "[127.0.0.1]") after `LHLO e2e.client`.
// Returns "" if it matches, else what differs.
std::string check_stored(std::string_view stored, const std::string& from,
                         const std::string& client_host, std::string_view content);

// Length of the trace headers (Return-Path + Received) at the start of a stored message, found
// by their shape; 0 if they are not there.
size_t trace_length(std::string_view stored);

std::optional<std::string> read_file(const std::string& path);
std::optional<struct stat> stat_file(const std::string& path);

// XXH3-128 of bytes, as Cubby prints a GUID (32 lower-case hex digits).
std::string guid_of(std::string_view bytes);

}  // namespace cubby::e2e
