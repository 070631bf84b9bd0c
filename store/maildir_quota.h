// Maildir++ quota: the `maildirsize` file at the root of a user's Maildir, shared with Dovecot's
// `quota = maildir` (docs/dovecot.md).
//
// The file (Maildir++, courier-mta.org/imap/README.maildirquota.html) holds a limit line, e.g.
// "1048576S,1000C" (bytes and messages; a missing or 0 figure means no limit), then lines
// "<bytes> <messages>", each a change (negative for removals); the usage is their sum. Whoever
// adds or removes a message appends one line with a single write(2) on O_APPEND, so concurrent
// writers never mix their lines. Dovecot, configured without quota rules, takes the limits from
// this file; so it is also where `cubbyctl quota set` writes them.
//
// The file is recalculated (the messages counted again and the file replaced atomically: a new
// file in tmp/, created exclusively, then renamed over maildirsize; never through a symbolic link)
// when it is missing (and limits are known), garbled (no limit line, a usage line that is not two
// integers, a NUL byte, a negative total, only a limit line), 5120 bytes or longer, or, while it
// shows the user over a limit, when it holds more than one usage line or was last written more
// than 15 minutes ago. These are Maildir++'s rules as Dovecot 2.3 applies them, so that Cubby and
// Dovecot recalculate on the same evidence.
//
// Counting takes every entry but "." and ".." in new/ and cur/ of the INBOX and of every folder
// (each ".<name>" directory of the user's Maildir) with the ,S= size of its name
// (maildir_file_name.h) or, without one, its size from lstat(); a message counts once per directory
// it is linked into. The Trash folder counts too: Courier skips it, but Dovecot counts it unless
// told to ignore it, and both must arrive at the same figures. If a directory changes while it is
// counted, counting starts again (a few times; then the last count is written, and the next
// recalculation corrects it). A line appended by a delivery racing a recalculation may be lost with
// the old file; Maildir++ accepts this approximation.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "conf/result.h"
#include "store/error.h"
#include "store/maildir_layout.h"

namespace cubby::store {

// Limits of a Maildir++ quota; 0 means no limit.
struct MaildirQuotaLimits {
  uint64_t bytes = 0;
  uint64_t messages = 0;
  bool operator==(const MaildirQuotaLimits&) const = default;
};

struct MaildirUsage {
  int64_t bytes = 0;
  int64_t messages = 0;
  bool operator==(const MaildirUsage&) const = default;
};

// The limit line as Dovecot writes it: "<bytes>S" (also "0S" when there is no limit at all),
// then ",<messages>C" when there is a message limit; "100C" for a message limit alone.
std::string format_maildir_limits(const MaildirQuotaLimits& limits);
// Reads a limit line: comma-separated "<n>S" and "<n>C". Parts that do not parse are skipped (as
// Dovecot and Courier do) and *clean is set false.
MaildirQuotaLimits parse_maildir_limits(std::string_view line, bool* clean = nullptr);

// The content of a maildirsize file, parsed.
struct MaildirSizeFile {
  MaildirQuotaLimits limits;
  MaildirUsage usage;      // the sum of the usage lines
  size_t usage_lines = 0;  // lines after the limit line
};
// Parses the text of a maildirsize file. A last line without its LF is ignored (an append in
// progress). The error says why it is garbled.
Result<MaildirSizeFile, std::string> parse_maildirsize(std::string_view text);
// Why a file that parsed must be recalculated anyway (over a limit with several usage lines, or
// over a limit and older than 15 minutes), or nullopt when it can be trusted.
std::optional<std::string> maildirsize_stale(const MaildirSizeFile& file, time_t mtime, time_t now);

// True when adding `bytes` and `messages` breaks a limit: usage + delta > limit (Cubby's rule,
// quota.h; pass 0 and 0 for "already over").
bool maildir_quota_exceeded(const MaildirQuotaLimits& limits, const MaildirUsage& usage,
                            int64_t bytes, int64_t messages);

// What read_maildir_quota() found.
struct MaildirQuota {
  bool exists = false;  // no file and no limits given: no quota (nothing to enforce or append to)
  MaildirQuotaLimits limits;
  MaildirUsage usage;
  std::string recalculated;  // why the file was recalculated ("missing", "garbled: ..."); "" if not
};

// Counts the messages of the user's Maildir (see above).
Result<MaildirUsage, Error> count_maildir_usage(const UserMaildir& user);

// Reads the user's quota, recalculating (and rewriting) the file when the rules above say so.
// Without a file, the quota is recalculated and the file created with `limits_if_missing` when
// given; otherwise there is no quota (exists false). `now` is for the 15-minute rule.
Result<MaildirQuota, Error> read_maildir_quota(
    const UserMaildir& user, std::optional<MaildirQuotaLimits> limits_if_missing = std::nullopt,
    time_t now = std::time(nullptr));

// Appends "<bytes> <messages>\n" with one write on O_APPEND (a delivery: size and 1; an expunge:
// negative figures). Without a file there is no quota and nothing is written (returns false).
Result<bool, Error> append_maildir_quota(const UserMaildir& user, int64_t bytes, int64_t messages);

// Counts the messages and replaces the file with `limits` and one usage line. What `cubbyctl quota
// set` calls with the new limits; also the recalculation read_maildir_quota() runs.
Result<MaildirQuota, Error> recalculate_maildir_quota(const UserMaildir& user,
                                                      const MaildirQuotaLimits& limits);

}  // namespace cubby::store
