// Variables (RFC 5229): "${name}" and "${N}" substitution in strings, and the modifiers of `set`.
//
// Names are case-insensitive; an unknown variable expands to "". A "${" that does not start a
// well-formed reference is left as written. Namespaced names ("global.x", RFC 6609) are looked up
// through the same callback as plain ones.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sieve/ast.h"

namespace cubby::sieve {

// Looks up a variable by its lower-cased name (digits for match variables); nullopt = unknown.
using VariableLookup = std::function<std::optional<std::string>(const std::string& name)>;

std::string expand_variables(std::string_view s, const VariableLookup& lookup);

// `value` with the modifiers of a `set` node applied in RFC 5229's order (:lower/:upper, then
// :lowerfirst/:upperfirst, then :quotewildcard/:quoteregex, then :length).
std::string apply_modifiers(const Node& set, std::string value);

// Truncates `s` to at most `max` bytes without splitting a UTF-8 character.
void truncate_utf8(std::string& s, size_t max);

}  // namespace cubby::sieve
