// RFC 5322 dates and RFC 5260 date parts; see date.h.
#include "sieve/date.h"

#include <strings.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <vector>

namespace cubby::sieve {
namespace {

const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                         "jul", "aug", "sep", "oct", "nov", "dec"};
const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
const char* kMonthNames[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == ',')) ++i;
    // Comments, e.g. "(CET)", are dropped.
    if (i < s.size() && s[i] == '(') {
      const size_t close = s.find(')', i);
      i = close == std::string_view::npos ? s.size() : close + 1;
      continue;
    }
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != ',' && s[j] != '(') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool number(std::string_view s, int& out) {
  if (s.empty() || s.size() > 9) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  return true;
}

}  // namespace

std::optional<int> parse_zone(std::string_view z) {
  if (z.size() != 5 || (z[0] != '+' && z[0] != '-')) return std::nullopt;
  int hh, mm;
  if (!number(z.substr(1, 2), hh) || !number(z.substr(3, 2), mm) || mm > 59) return std::nullopt;
  const int minutes = hh * 60 + mm;
  return z[0] == '-' ? -minutes : minutes;
}

std::optional<Moment> parse_rfc5322_date(std::string_view text) {
  auto w = words(text);
  size_t i = 0;
  if (i < w.size() && !w[i].empty() && std::isalpha(static_cast<unsigned char>(w[i][0]))) ++i;
  if (w.size() < i + 4) return std::nullopt;
  int day, year, month = -1;
  if (!number(w[i], day) || day < 1 || day > 31) return std::nullopt;
  for (int m = 0; m < 12; ++m)
    if (w[i + 1].size() == 3 && strncasecmp(w[i + 1].data(), kMonths[m], 3) == 0) month = m + 1;
  if (month < 0 || !number(w[i + 2], year)) return std::nullopt;
  if (w[i + 2].size() <= 2)
    year += year < 50 ? 2000 : 1900;  // obsolete two-digit years
  else if (w[i + 2].size() == 3)
    year += 1900;
  int hh = 0, mm = 0, ss = 0;
  const std::string_view t = w[i + 3];
  if (t.size() == 8 && t[2] == ':' && t[5] == ':') {
    if (!number(t.substr(0, 2), hh) || !number(t.substr(3, 2), mm) || !number(t.substr(6, 2), ss))
      return std::nullopt;
  } else if (t.size() == 5 && t[2] == ':') {
    if (!number(t.substr(0, 2), hh) || !number(t.substr(3, 2), mm)) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  int zone = 0;
  if (w.size() > i + 4) {
    const std::string_view z = w[i + 4];
    if (auto parsed = parse_zone(z)) {
      zone = *parsed;
    } else {
      static const struct {
        const char* name;
        int minutes;
      } names[] = {{"UT", 0},     {"GMT", 0},    {"Z", 0},      {"EST", -300},
                   {"EDT", -240}, {"CST", -360}, {"CDT", -300}, {"MST", -420},
                   {"MDT", -360}, {"PST", -480}, {"PDT", -420}};
      for (const auto& n : names)
        if (z.size() == strlen(n.name) && strncasecmp(z.data(), n.name, z.size()) == 0)
          zone = n.minutes;
    }
  }
  const int64_t local =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      hh * 3600 + mm * 60 + ss;
  return Moment{local - zone * 60, zone};
}

std::optional<std::string> date_part(int64_t utc, int zone, std::string_view part) {
  const int64_t local = utc + zone * 60;
  int64_t days = local / 86400;
  int64_t secs = local % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  const int hh = static_cast<int>(secs / 3600), mi = static_cast<int>(secs / 60 % 60),
            ss = static_cast<int>(secs % 60);
  const int weekday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
  const char sign = zone < 0 ? '-' : '+';
  const int az = zone < 0 ? -zone : zone;
  char buf[64];
  if (part == "year")
    snprintf(buf, sizeof buf, "%04lld", static_cast<long long>(y));
  else if (part == "month")
    snprintf(buf, sizeof buf, "%02u", m);
  else if (part == "day")
    snprintf(buf, sizeof buf, "%02u", d);
  else if (part == "date")
    snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  else if (part == "julian")
    snprintf(buf, sizeof buf, "%lld", static_cast<long long>(days + 40587));
  else if (part == "hour")
    snprintf(buf, sizeof buf, "%02d", hh);
  else if (part == "minute")
    snprintf(buf, sizeof buf, "%02d", mi);
  else if (part == "second")
    snprintf(buf, sizeof buf, "%02d", ss);
  else if (part == "time")
    snprintf(buf, sizeof buf, "%02d:%02d:%02d", hh, mi, ss);
  else if (part == "iso8601")
    snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d%c%02d:%02d",
             static_cast<long long>(y), m, d, hh, mi, ss, sign, az / 60, az % 60);
  else if (part == "std11")
    snprintf(buf, sizeof buf, "%s, %02u %s %04lld %02d:%02d:%02d %c%02d%02d", kDays[weekday], d,
             kMonthNames[m - 1], static_cast<long long>(y), hh, mi, ss, sign, az / 60, az % 60);
  else if (part == "zone")
    snprintf(buf, sizeof buf, "%c%02d%02d", sign, az / 60, az % 60);
  else if (part == "weekday")
    snprintf(buf, sizeof buf, "%d", weekday);
  else
    return std::nullopt;
  return std::string(buf);
}

}  // namespace cubby::sieve
