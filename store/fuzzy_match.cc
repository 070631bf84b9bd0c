// Cyrus's fuzzy mailbox match; see fuzzy_match.h.
#include "store/fuzzy_match.h"

#include <set>

namespace cubby::store {
namespace {

char fold(char c) {
  if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
  if (c == ' ' || c == '-') return '_';
  return c;
}

// The first bytes of internal names whose first component may fuzzily equal `first`.
std::set<char> first_bytes(const std::string& first) {
  const char c = first.empty() ? '\0' : first[0];
  if (fold(c) == '_') return {' ', '-', '_'};
  if (c >= 'a' && c <= 'z') return {c, static_cast<char>(c - 'a' + 'A')};
  if (c >= 'A' && c <= 'Z') return {c, static_cast<char>(c - 'A' + 'a')};
  if (c == '.') return {'^'};  // a '.' inside a component is stored as '^'
  return {c};
}

}  // namespace

bool fuzzy_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (fold(a[i]) != fold(b[i])) return false;
  }
  return true;
}

std::optional<std::string> fuzzy_match(Index& index, const MailboxName& wanted) {
  const auto& parts = wanted.components();
  const size_t base = wanted.is_user() ? 2 : 0;  // components that must match exactly
  if (parts.size() <= base) return std::nullopt;
  const std::string domain = wanted.domain().empty() ? "" : wanted.domain() + "!";

  std::vector<MailboxRecord> candidates;
  if (base == 2) {
    const std::string inbox = wanted.inbox()->internal();
    candidates = index.mailboxes_between(inbox + ".", inbox + "/");
  } else {
    for (char c : first_bytes(parts[0])) {
      const std::string from = domain + c;
      std::string to = from;
      to.back() = static_cast<char>(to.back() + 1);
      for (auto& m : index.mailboxes_between(from, to)) candidates.push_back(std::move(m));
    }
  }

  std::optional<std::string> best;
  size_t best_depth = 0;
  bool best_exact = false;
  for (const auto& m : candidates) {
    auto name = MailboxName::from_internal(m.name);
    if (!name.ok() || name->domain() != wanted.domain() || name->is_user() != wanted.is_user()) {
      continue;
    }
    const auto& have = name->components();
    if (have.size() <= base || have.size() > parts.size()) continue;
    bool equal = true, exact = true;
    for (size_t i = 0; i < have.size() && equal; ++i) {
      if (i < base) {
        equal = have[i] == parts[i];
      } else {
        equal = fuzzy_equal(have[i], parts[i]);
        exact = exact && have[i] == parts[i];
      }
    }
    if (!equal) continue;
    const size_t depth = have.size();
    // Candidates come in name order within each scan; deeper wins, then exact, then the first.
    if (!best || depth > best_depth || (depth == best_depth && exact && !best_exact) ||
        (depth == best_depth && exact == best_exact && m.name < *best)) {
      best = m.name;
      best_depth = depth;
      best_exact = exact;
    }
  }
  return best;
}

}  // namespace cubby::store
