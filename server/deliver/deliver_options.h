// deliver's command line, read as Cyrus's deliver reads it, and the envelope it implies.
//
// parse_deliver_options() takes argv as getopt_long(3) sees it (GNU permutation: options may
// follow userids; `--` ends the options) with Cyrus's option string `C:DE:F:a:def:lm:qr:` and the
// long options --auth-id, --lmtp, --mailbox, --ignore-quota, --return-path and --debug.
// -d and -e are accepted and ignored; -E and -F (and their argument) are refused as "no longer
// supported"; a second -m or -a is refused; an empty -m argument counts as no -m (Postfix's
// `-m ${extension}` without an extension). Outside -l mode there must be a userid or a -m.
// An argument holding CR or LF is refused: it would end an LMTP command line early.
// Every refusal is a UsageError whose `reason` deliver prints before the usage text.
//
// The functions below it are pure: they build the MAIL FROM and RCPT TO arguments.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.h"

namespace cubby::deliver {

struct DeliverOptions {
  std::string config_path = "/etc/cubby/imapd.conf";  // -C
  bool lmtp_mode = false;                             // -l: relay LMTP on stdin/stdout
  bool debug = false;                                 // -D: log the LMTP dialogue
  bool ignore_quota = false;                          // -q: IGNOREQUOTA on every RCPT
  std::optional<std::string> return_path;             // -r / -f, as given
  std::optional<std::string> mailbox;                 // -m, never empty
  std::optional<std::string> auth_id;                 // -a
  std::vector<std::string> userids;                   // the operands
};

struct UsageError {
  std::string reason;  // "deliver: multiple -m options"; empty when the usage says it all
};

Result<DeliverOptions, UsageError> parse_deliver_options(int argc, char** argv);

// The usage text Cyrus prints on stderr (`421-4.3.0 usage: ...` lines, then `421 4.3.0 <version>`).
std::string deliver_usage();

// The RCPT TO addresses: each userid, or with a mailbox `<local>+<mailbox>[@domain]` (split at the
// first `@`); with a mailbox and no userids, the single address `<postuser>+<mailbox>`.
std::vector<std::string> recipient_addresses(const DeliverOptions& options,
                                             std::string_view postuser);

// The MAIL FROM path for a return path: `<addr>` for a bare address, the argument itself when it
// is already in angle brackets, `<>` for an empty one.
std::string mail_from_path(std::string_view return_path);

// RFC 3461 xtext: printable ASCII other than `+` and `=` as is, every other byte as `+XX`.
std::string encode_xtext(std::string_view text);

}  // namespace cubby::deliver
