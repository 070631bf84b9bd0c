// The syntax tree of a compiled Sieve script: what the parser (parser.h) builds and the checker
// annotates, and what the interpreter walks. Nodes keep the line they start on, for errors.
//
// Commands and tests share one shape (RFC 5228 section 8.2): a name, tagged arguments, positional
// arguments, tests and, for commands, a block. The checker sorts the raw argument list into
// `tags` (":name" -> its value, if it takes one) and `positional`, so the interpreter reads
// `node.tag(":flags")` instead of re-parsing arguments.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sieve/sieve.h"

namespace cubby::sieve {

// One argument: a tag (":is"), a number (already multiplied by K/M/G), or a string list (a single
// string is a list of one; `single` remembers which, as some arguments must be one string).
struct Argument {
  enum class Kind { kTag, kNumber, kStrings };
  Kind kind = Kind::kStrings;
  std::string tag;                   // kTag, with its colon, lower-cased
  uint64_t number = 0;               // kNumber
  std::vector<std::string> strings;  // kStrings
  bool single = false;               // kStrings written as one string, not [ ... ]
  int line = 0;
};

struct Node {
  std::string name;  // lower-cased identifier
  int line = 0;
  std::vector<Argument> args;  // as written (the parser fills this)
  std::vector<Node> tests;     // a test, or a test list's members
  std::vector<Node> block;     // commands only
  bool has_block = false;
  bool test_list = false;  // tests were written as ( ... )

  // Filled by the checker.
  std::map<std::string, Argument> tags;  // ":tag" -> value (a kTag argument when it takes none)
  std::vector<Argument> positional;
  bool skipped = false;  // inside an `ihave` block of an unsupported capability: never run

  bool has(const std::string& tag) const { return tags.count(tag) != 0; }
  const Argument* tag(const std::string& name) const {
    auto it = tags.find(name);
    return it == tags.end() ? nullptr : &it->second;
  }
};

struct ScriptTree {
  std::vector<Node> commands;
  std::set<std::string> required;  // capabilities named by `require`
  bool variables = false;          // "variables" was required: strings are expanded at run time
  // Set by compile() (recipient_dependence.cc): no command or test reads anything of the
  // recipient (see Script::recipient_independent in sieve.h).
  bool recipient_independent = false;
};

// Whether running `tree` for two recipients of one message can differ (recipient_dependence.cc).
bool depends_on_recipient(const ScriptTree& tree);

}  // namespace cubby::sieve
