// Dates for the date and currentdate tests (RFC 5260): reading an RFC 5322 date-time from a
// header, and the date parts ("year", "date", "iso8601", ...) of a moment in a given zone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cubby::sieve {

struct Moment {
  int64_t utc = 0;       // seconds since the epoch
  int zone_minutes = 0;  // the zone the date was written in, minutes east of UTC
};

// "Tue, 1 Jul 2003 10:52:37 +0200" (day name optional, seconds optional, obsolete zone names
// accepted); nullopt when it is not a date.
std::optional<Moment> parse_rfc5322_date(std::string_view text);

// "+0200" / "-0730"; nullopt when malformed.
std::optional<int> parse_zone(std::string_view text);

// The date part `part` (lower-case name) of `utc` seen in the zone `zone_minutes`; nullopt for
// an unknown part name.
std::optional<std::string> date_part(int64_t utc, int zone_minutes, std::string_view part);

}  // namespace cubby::sieve
