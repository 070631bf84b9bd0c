// The in-memory Environment; see memory_environment.h.
#include "sieve/memory_environment.h"

#include <cctype>

namespace cubby::sieve {
namespace {

std::string vacation_key(std::string_view address, std::string_view handle) {
  std::string key(address);
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return key + "\n" + std::string(handle);
}

}  // namespace

void MemoryEnvironment::record(const Outcome& outcome) {
  if (outcome.error) return;
  for (const auto& d : outcome.duplicates) duplicates_[d.key] = clock;
  for (const auto& a : outcome.actions)
    if (a.kind == Action::Kind::kVacation && a.sent)
      vacations_[vacation_key(a.address, a.handle)] = clock;
}

bool MemoryEnvironment::mailbox_exists(std::string_view mailbox) {
  return mailboxes.count(std::string(mailbox)) != 0;
}

bool MemoryEnvironment::duplicate_seen(std::string_view key, std::chrono::seconds period) {
  auto it = duplicates_.find(std::string(key));
  return it != duplicates_.end() && clock - it->second < period;
}

bool MemoryEnvironment::vacation_sent(std::string_view address, std::string_view handle,
                                      std::chrono::seconds period) {
  auto it = vacations_.find(vacation_key(address, handle));
  return it != vacations_.end() && clock - it->second < period;
}

std::optional<std::string> MemoryEnvironment::script_source(std::string_view name,
                                                            ScriptLocation where) {
  const auto& scripts = where == ScriptLocation::kGlobal ? global_scripts : personal_scripts;
  auto it = scripts.find(std::string(name));
  if (it == scripts.end()) return std::nullopt;
  return it->second;
}

}  // namespace cubby::sieve
