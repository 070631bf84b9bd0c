// Fuzz target: the imapd.conf-style settings file (conf/settings.h), parsed from memory.
//
// Input: the file's text. When it parses, every option of the table is read through the getter
// of its type, plainly and for a service ("lmtp"), and the effective table is rendered both ways:
// a value the parser accepted must never make a getter throw or overflow (UBSan watches the
// arithmetic of sizes and durations). A refusal must name the file.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "conf/options.h"
#include "conf/settings.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace cubby::conf;

void read_everything(const Settings& s) {
  for (const OptionSpec& spec : option_table()) {
    switch (spec.type) {
      case OptionType::String:
      case OptionType::Enum:
        (void)s.get_string(spec.name);
        break;
      case OptionType::Bool:
        (void)s.get_bool(spec.name);
        break;
      case OptionType::Int: {
        const int64_t v = s.get_int(spec.name);
        FUZZ_CHECK(v >= spec.min && v <= spec.max, "%.*s = %lld outside its range",
                   int(spec.name.size()), spec.name.data(), static_cast<long long>(v));
        break;
      }
      case OptionType::ByteSize:
        (void)s.get_bytes(spec.name);
        break;
      case OptionType::Duration: {
        const auto d = s.get_duration(spec.name);
        FUZZ_CHECK(d.count() >= 0, "%.*s is a negative duration", int(spec.name.size()),
                   spec.name.data());
        break;
      }
      case OptionType::List:
        (void)s.get_list(spec.name);
        break;
    }
  }
  (void)s.partitions();
  (void)s.sasl_option("pwcheck_method");
  (void)format_effective(s, false);
  (void)format_effective(s, true);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> warnings;
  auto parsed = Settings::parse(text, "fuzz.conf", &warnings);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.error().str().rfind("fuzz.conf", 0) == 0, "error without the file name: %s",
               parsed.error().str().c_str());
    return 0;
  }
  Settings s = std::move(parsed.value());
  read_everything(s);
  s.set_service("lmtp");
  read_everything(s);
  return 0;
}
