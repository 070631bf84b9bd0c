// Fuzz target: mailbox names (store/mailbox_name.h), external and internal forms.
//
// Input: byte 0 holds flags (bit 0: unixhierarchysep); the rest is a name. Both parsers are tried
// on it, and every name that parses must
//   - have a directory that stays inside its partition, with and without hashimapspool: relative
//     (no leading '/'), no empty, "." or ".." component, no NUL or control byte;
//   - round-trip: internal -> from_internal -> the same internal name and directory, and
//     external(sep) -> from_external(sep) -> the same internal name, for both separators (except
//     a name without a domain whose component holds '@': see mailbox_name.h).
#include <cstdint>
#include <string>
#include <string_view>

#include "store/mailbox_name.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using cubby::store::MailboxName;

void check_dir(const MailboxName& n, bool hash) {
  const std::string dir = n.relative_dir(hash);
  const std::string name = n.internal();
  FUZZ_CHECK(!dir.empty() && dir[0] != '/', "directory \"%s\" of %s is not relative", dir.c_str(),
             name.c_str());
  for (unsigned char c : dir) {
    FUZZ_CHECK(c >= 0x20 && c != 0x7f, "control byte in directory of %s", name.c_str());
  }
  size_t start = 0;
  for (;;) {
    const size_t slash = dir.find('/', start);
    const std::string part = dir.substr(start, slash == std::string::npos ? slash : slash - start);
    FUZZ_CHECK(!part.empty() && part != "." && part != "..",
               "directory \"%s\" of %s has an empty, \".\" or \"..\" component", dir.c_str(),
               name.c_str());
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
}

void check_name(const MailboxName& n) {
  const std::string internal = n.internal();
  FUZZ_CHECK(!n.components().empty(), "no components in %s", internal.c_str());
  check_dir(n, false);
  check_dir(n, true);

  auto again = MailboxName::from_internal(internal);
  FUZZ_CHECK(again.ok(), "internal name %s does not parse: %s", internal.c_str(),
             again.ok() ? "" : again.error().detail.c_str());
  FUZZ_CHECK(again->internal() == internal, "%s -> %s", internal.c_str(),
             again->internal().c_str());
  FUZZ_CHECK(again->relative_dir(false) == n.relative_dir(false), "directory of %s changed",
             internal.c_str());
  FUZZ_CHECK(again->domain() == n.domain() && again->components() == n.components(),
             "components of %s changed", internal.c_str());

  // The one known ambiguity (mailbox_name.h): without a domain, a component holding '@' reads
  // back from the external form as a domain.
  bool at_without_domain = false;
  for (const auto& c : n.components()) at_without_domain |= c.find('@') != std::string::npos;
  at_without_domain &= n.domain().empty();
  for (bool sep : {true, false}) {
    if (at_without_domain) break;
    const std::string external = n.external(sep);
    auto back = MailboxName::from_external(external, sep);
    FUZZ_CHECK(back.ok(), "%s -> external(%d) \"%s\" does not parse: %s", internal.c_str(),
               int(sep), external.c_str(), back.ok() ? "" : back.error().detail.c_str());
    FUZZ_CHECK(back->internal() == internal, "%s -> \"%s\" (sep %d) -> %s", internal.c_str(),
               external.c_str(), int(sep), back->internal().c_str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool unix_sep = (data[0] & 1) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (auto n = MailboxName::from_external(text, unix_sep); n.ok()) check_name(n.value());
  if (auto n = MailboxName::from_internal(text); n.ok()) check_name(n.value());
  return 0;
}
