// Fuzz target: IMAP modified UTF-7 (store/imap_utf7.h), the form folder names beyond ASCII take.
// Built only once store/imap_utf7.h exists (tests/fuzz/CMakeLists.txt).
//
// Input: byte 0 chooses the direction, the rest is the text. Checks:
//   - UTF-8 -> modified UTF-7 succeeds exactly for well-formed UTF-8 (lmtp::valid_utf8), gives
//     printable ASCII only, and decodes back to the input;
//   - modified UTF-7 -> UTF-8, when it succeeds, gives well-formed UTF-8 that encodes back to
//     exactly the input (only the canonical encoding is accepted).
#include <cstdint>
#include <string>
#include <string_view>

#include "server/lmtp/address.h"
#include "store/imap_utf7.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cubby;
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    auto utf7 = store::utf8_to_imap_utf7(text);
    FUZZ_CHECK(utf7.has_value() == lmtp::valid_utf8(text), "encoding %s well-formed UTF-8",
               utf7 ? "accepted non-" : "refused");
    if (!utf7) return 0;
    for (unsigned char c : *utf7) FUZZ_CHECK(c >= 0x20 && c < 0x7f, "byte 0x%02x in the encoding", c);
    auto back = store::imap_utf7_to_utf8(*utf7);
    FUZZ_CHECK(back && *back == text, "\"%s\" does not decode back", utf7->c_str());
  } else {
    auto utf8 = store::imap_utf7_to_utf8(text);
    if (!utf8) return 0;
    FUZZ_CHECK(lmtp::valid_utf8(*utf8), "decoded to malformed UTF-8");
    auto again = store::utf8_to_imap_utf7(*utf8);
    FUZZ_CHECK(again && *again == text, "non-canonical encoding accepted: [%.*s] -> [%s]",
               int(text.size()), text.data(), again ? again->c_str() : "(none)");
  }
  return 0;
}
