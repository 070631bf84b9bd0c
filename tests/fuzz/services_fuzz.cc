// Fuzz target: the cyrus.conf-style services file (conf/services.h), parsed from memory, and the
// checks of each entry (service_spec, command_spec).
//
// Input: the file's text. A refusal must name the file; an entry service_spec() accepts has a
// command and a listen address, maxchild -1 or at least prefork, and counts that are not negative.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "conf/services.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cubby::conf;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> warnings;
  auto parsed = parse_services(text, "fuzz.conf", &warnings);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.error().str().rfind("fuzz.conf", 0) == 0, "error without the file name: %s",
               parsed.error().str().c_str());
    return 0;
  }
  for (const ServiceEntry& e : parsed->services) {
    FUZZ_CHECK(!e.name.empty(), "entry without a name");
    auto spec = service_spec(e);
    if (!spec.ok()) continue;
    FUZZ_CHECK(!spec->argv.empty() && !spec->listen.empty(), "%s: no cmd or listen",
               e.name.c_str());
    FUZZ_CHECK(spec->prefork >= 0 && spec->maxforkrate >= 0 && spec->maxfds >= 0,
               "%s: negative count", e.name.c_str());
    FUZZ_CHECK(spec->maxchild == -1 || (spec->maxchild >= 1 && spec->maxchild >= spec->prefork),
               "%s: maxchild %d with prefork %d", e.name.c_str(), spec->maxchild, spec->prefork);
  }
  for (const auto* section : {&parsed->start, &parsed->events, &parsed->daemons}) {
    for (const ServiceEntry& e : *section) {
      auto spec = command_spec(e);
      if (!spec.ok()) continue;
      FUZZ_CHECK(!spec->argv.empty(), "%s: no cmd", e.name.c_str());
      FUZZ_CHECK(spec->at_hhmm == -1 || (spec->at_hhmm >= 0 && spec->at_hhmm <= 2359 &&
                                         spec->at_hhmm % 100 < 60),
                 "%s: at=%d", e.name.c_str(), spec->at_hhmm);
      FUZZ_CHECK(spec->period_minutes >= 0, "%s: negative period", e.name.c_str());
    }
  }
  return 0;
}
