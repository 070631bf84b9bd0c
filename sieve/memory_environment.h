// An Environment held in memory: a set of mailboxes, scripts by name, a fixed clock, and a
// vacation and duplicate history that starts empty and remembers what `record()` is given.
// Used by the tests, the fuzz targets and the evaluation tool; `cubbyctl sieve test` can use it
// with the user's mailboxes and scripts filled in ("an empty vacation and duplicate history").
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <string>

#include "sieve/sieve.h"

namespace cubby::sieve {

class MemoryEnvironment : public Environment {
 public:
  std::set<std::string> mailboxes = {"INBOX"};
  std::map<std::string, std::string> personal_scripts;  // name -> source
  std::map<std::string, std::string> global_scripts;
  std::chrono::system_clock::time_point clock =
      std::chrono::system_clock::time_point{} + std::chrono::seconds(1'700'000'000);
  int zone_minutes = 0;

  // Remembers a delivered outcome's vacation answers and duplicate marks, as delivery would.
  void record(const Outcome& outcome);

  bool mailbox_exists(std::string_view mailbox) override;
  bool duplicate_seen(std::string_view key, std::chrono::seconds period) override;
  bool vacation_sent(std::string_view address, std::string_view handle,
                     std::chrono::seconds period) override;
  std::optional<std::string> script_source(std::string_view name, ScriptLocation where) override;
  std::chrono::system_clock::time_point now() override { return clock; }
  int zone_offset_minutes() override { return zone_minutes; }

 private:
  std::map<std::string, std::chrono::system_clock::time_point> duplicates_;  // key -> when
  std::map<std::string, std::chrono::system_clock::time_point> vacations_;   // address\nhandle
};

}  // namespace cubby::sieve
