// The generated option reference; see options_doc.h.
#include "conf/options_doc.h"

#include <string_view>

#include "conf/options.h"

namespace cubby::conf {
namespace {

// A table cell: '|' would end the cell, so it is escaped (also inside code spans); '<' would start
// HTML (`<name>` in a help text) outside a code span, so it is written as an entity there.
std::string cell(std::string_view text, bool code = false) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    if (c == '<' && !code) {
      out += "&lt;";
      continue;
    }
    out += c;
  }
  return out;
}

std::string type_cell(const OptionSpec& spec) {
  std::string out(type_name(spec.type));
  if (spec.type == OptionType::Enum) out += ": `" + cell(spec.choices, true) + "`";
  if (spec.type == OptionType::Int) {
    constexpr auto kMin = OptionSpec{}.min;
    constexpr auto kMax = OptionSpec{}.max;
    if (spec.min != kMin || spec.max != kMax) {
      out += " (" + (spec.min == kMin ? std::string("…") : std::to_string(spec.min)) + " to " +
             (spec.max == kMax ? std::string("…") : std::to_string(spec.max)) + ")";
    }
  }
  return out;
}

}  // namespace

std::string options_markdown() {
  std::string out;
  out +=
      "<!-- Generated from the option table in conf/options.cc by conf/gen/options_doc_main.cc:\n"
      "     do not edit. Rewrite with `cmake --build build --target options-doc`;\n"
      "     tests/conf/options_doc_test.cc fails while this file is out of date. -->\n"
      "# Settings reference (`imapd.conf`)\n"
      "\n"
      "Every option Cubby honours in its settings file (by default `/etc/cubby/imapd.conf`, "
      "`-C` on every program). An option that is not listed here does not exist: an unknown key "
      "is logged as a warning and otherwise ignored; a value that does not parse is an error. Lines are `name: value`; `#` starts a "
      "comment. Names are Cyrus's wherever Cyrus has the option. `cubbyctl config` prints the "
      "effective value of each.\n"
      "\n"
      "Value types: *bool* is `yes`/`no` (also `on`/`off`, `true`/`false`, `1`/`0`); *bytesize* "
      "is a number with an optional `K`, `M` or `G` suffix (powers of 1024); *duration* is a "
      "number with an optional `ms`, `s`, `m`, `h` or `d` suffix (seconds without one); "
      "*list* items are separated by blanks or commas; *enum* takes one of the values shown.\n"
      "\n"
      "Besides the table, three families of keys:\n"
      "\n"
      "* `partition-<name>`: the root directory of partition `<name>` (an absolute path); "
      "`defaultpartition` names the one new mailboxes go to.\n"
      "* `partition-<name>-format`: the format of partition `<name>`, `cyrus` (Cyrus's layout "
      "and Cubby's index) or `maildir` (Maildir++, read live by Dovecot's IMAP and POP3: see "
      "`docs/dovecot.md`); a partition without one has the format `partitionformat` gives. "
      "So no partition's name may end in `-format`. A mailbox moved by `cubbyctl convert` keeps "
      "the format it was converted to whatever this says; the setting decides for the others and "
      "for new mailboxes (`docs/mailboxes.md`, \"Converting mailboxes\").\n"
      "* `sasl_<anything>`: passed to libsasl2 unchanged (for example `sasl_auxprop_plugin`, "
      "`sasl_sasldb_path`); the table's `sasl_` options below take precedence.\n"
      "\n"
      "| option | type | default | meaning |\n"
      "|---|---|---|---|\n";
  for (const OptionSpec& spec : option_table()) {
    std::string def = spec.default_value.empty() ? "*(empty)*" : "`" + cell(spec.default_value, true) + "`";
    out += "| `" + cell(spec.name, true) + "` | " + type_cell(spec) + " | " + def + " | " + cell(spec.help) +
           " |\n";
  }
  return out;
}

}  // namespace cubby::conf
