// JSON text: the one quoting rule every JSON output of Cubby uses (cubbyctl --json, the master's
// status, cubbyctl config, Sieve results).
#pragma once

#include <string>
#include <string_view>

namespace cubby::conf {

// `text` as a JSON string literal, quotes included: `"` and `\` escaped, control characters and
// DEL as \n, \r, \t, \b, \f or \u00XX; every other byte (UTF-8 among them) passes through as JSON
// allows.
std::string json_string(std::string_view text);

}  // namespace cubby::conf
