// Values: the text forms a setting can take, parsed into typed values.
//
// Each parser takes the whole value (surrounding blanks already removed by the caller or ignored
// here) and returns nullopt when the text is not of that form; it never throws. These are the only
// definitions of what "yes", "1M" or "90s" mean, shared by the settings file and the services file.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cubby::conf {

// yes/no, on/off, true/false, y/n, t/f, 1/0; case-insensitive.
std::optional<bool> parse_bool(std::string_view text);

// A decimal integer with an optional sign, within int64_t.
std::optional<int64_t> parse_int(std::string_view text);

// A byte count: digits with an optional unit K, M or G (1024-based, case-insensitive), which may be
// followed by "B" or "iB" ("10M", "10MB", "10MiB"); a bare "B" is bytes. Blanks may separate the
// number from the unit.
std::optional<uint64_t> parse_bytesize(std::string_view text);

// A duration: one or more <digits><unit> with unit ms, s, m, h or d ("90s", "1h30m"); a bare number
// is in seconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// Splits a list on blanks and commas; empty items are dropped.
std::vector<std::string> split_list(std::string_view text);

// Checks "address/prefix" (IPv4 or IPv6; a bare address is a host) and says what is wrong.
std::optional<std::string> check_cidr(std::string_view text);

std::string lower(std::string_view text);
std::string_view trim(std::string_view text);

}  // namespace cubby::conf
