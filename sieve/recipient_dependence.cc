// Which scripts may be evaluated once for all the recipients of a message (Script::
// recipient_independent in sieve.h): a walk over the checked tree that looks for anything that
// reads the recipient. It errs on the side of "depends": a script it cannot prove independent is
// simply evaluated per recipient, as every script was before.
#include <string_view>

#include "sieve/ast.h"
#include "sieve/evaluation.h"

namespace cubby::sieve {
namespace {

// The commands and tests that ask the Environment something of the user, or read the recipient:
// vacation (the user's addresses, the answer history), duplicate (the user's history),
// mailboxexists (the user's mailboxes), include (the user's personal scripts; a global one could
// include a personal one in turn).
bool reads_the_user(std::string_view name) {
  return name == "vacation" || name == "duplicate" || name == "mailboxexists" || name == "include";
}

// `envelope` reads the recipient unless every part it names is literally "from" (any case): "to"
// is the RCPT TO, and a name built from variables may turn out to be "to".
bool reads_the_recipient(const Node& node) {
  if (node.name != "envelope") return false;
  if (node.positional.empty()) return true;
  for (const auto& part : node.positional[0].strings)
    if (ascii_lower(part) != "from") return true;
  return false;
}

bool depends(const Node& node) {
  if (reads_the_user(node.name) || reads_the_recipient(node)) return true;
  for (const auto& t : node.tests)
    if (depends(t)) return true;
  for (const auto& c : node.block)
    if (depends(c)) return true;
  return false;
}

}  // namespace

bool depends_on_recipient(const ScriptTree& tree) {
  for (const auto& c : tree.commands)
    if (depends(c)) return true;
  return false;
}

bool Script::recipient_independent() const { return tree_->recipient_independent; }

}  // namespace cubby::sieve
