// The Sieve parser (RFC 5228 section 8.2) and checker: script text in, a checked ScriptTree out.
//
// parse() builds the tree from tokens (syntax only: commands, arguments, tests, blocks) and
// enforces the size and nesting limits. check() then validates it against the table of known
// commands and tests (checker.cc): each name exists, its tags and positional arguments fit, the
// extension it belongs to was required, `require` names only supported capabilities, and
// encoded-character strings are decoded. Both report the first problem as "line N: ...".
#pragma once

#include <string_view>

#include "conf/result.h"
#include "sieve/ast.h"
#include "sieve/sieve.h"

namespace cubby::sieve {

Result<ScriptTree, Error> parse(std::string_view source, const Limits& limits);

// Checks and annotates `tree` in place; returns the first error, if any.
std::optional<Error> check(ScriptTree& tree);

}  // namespace cubby::sieve
