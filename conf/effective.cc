// Rendering the effective settings for `cubbyctl config`, as a table or as JSON; see settings.h.
#include <algorithm>
#include <cstdio>

#include "conf/json.h"
#include "conf/settings.h"

namespace cubby::conf {
namespace {

std::string json(const std::vector<Settings::Effective>& rows) {
  std::string out = "[\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    out += "  {\"name\": " + json_string(row.name) + ", \"value\": " + json_string(row.value) +
           ", \"origin\": " + json_string(row.origin) + ", \"help\": " + json_string(row.help) +
           "}";
    out += i + 1 < rows.size() ? ",\n" : "\n";
  }
  return out + "]\n";
}

std::string pad(std::string text, size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

std::string table(const std::vector<Settings::Effective>& rows) {
  auto shown = [](const std::string& value) { return value.empty() ? std::string("\"\"") : value; };
  size_t name_width = 4, value_width = 5;
  for (const auto& row : rows) {
    name_width = std::max(name_width, row.name.size());
    value_width = std::max(value_width, shown(row.value).size());
  }
  std::string out = pad("NAME", name_width) + "  " + pad("VALUE", value_width) + "  ORIGIN\n";
  for (const auto& row : rows) {
    out += pad(row.name, name_width) + "  " + pad(shown(row.value), value_width) + "  " +
           row.origin + "\n";
  }
  return out;
}

}  // namespace

std::string format_effective(const Settings& settings, bool as_json) {
  auto rows = settings.effective();
  return as_json ? json(rows) : table(rows);
}

}  // namespace cubby::conf
