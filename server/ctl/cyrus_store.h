// Reading a Cyrus store through Cyrus's own tools (cubbyctl import-cyrus, docs/guide.md "Moving a
// Cyrus store"): Cyrus's databases (mailboxes.db, the quota database, each cyrus.index) have
// formats that change between versions and backends (twoskip, skiplist, quotalegacy, index
// versions 12 to 17), so they are read the way Cyrus itself prints them, from the installed
// cyrus-common of the same version that wrote them:
//   ctl_mboxlist -d   every mailbox: internal name, partition, uniqueid, uidvalidity, ACL, type
//                     (a JSON object in Cyrus 3.x);
//   quota -J          every quota root with its usage and limits in bytes and messages (JSON);
//   mbexamine <mbox>… each mailbox's directory, UID validity, last UID and every index record:
//                     UID, internal date, size, system and internal flags (text);
//   cyr_info conf-all the effective settings (unixhierarchysep, for the names mbexamine takes).
// The parsers are pure (text in, values out) so tests feed them captured output; run_cyrus_tool
// runs one tool with -C <imapd.conf> and returns what it printed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conf/result.h"

namespace cubby::ctl {

// Where Cyrus's tools are: `given` when not empty (it must hold ctl_mboxlist), else the first of
// Debian's /usr/lib/cyrus/bin, /usr/lib/cyrus-imapd, /usr/libexec/cyrus-imapd, /usr/cyrus/bin that
// does. The error says what to install or pass.
Result<std::string, std::string> find_cyrus_tools(const std::string& given);

// Runs <bin_dir>/<tool> -C <config> <args...> and returns its standard output; its standard error
// passes through. An error when it cannot be started or exits other than 0.
Result<std::string, std::string> run_cyrus_tool(const std::string& bin_dir,
                                                const std::string& config, const std::string& tool,
                                                const std::vector<std::string>& args);

struct CyrusMailbox {
  std::string name;  // internal, as Cubby's (store/mailbox_name.h): "user.alice.Work"
  std::string partition;
  std::string uniqueid;
  std::string type;  // mbtype letters: "e" email, "d" deleted, "r" remote, "i" intermediate, ...
  int64_t uidvalidity = 0;
  std::vector<std::pair<std::string, std::string>> acl;  // identifier, Cyrus rights letters
  // Whether it holds mail Cubby should take: an email mailbox that is not deleted, remote,
  // intermediate or reserved, and not a delayed-delete "DELETED." copy.
  bool importable() const;
};
// `ctl_mboxlist -d` output (Cyrus 3.x JSON).
Result<std::vector<CyrusMailbox>, std::string> parse_mboxlist_dump(std::string_view text);

struct CyrusQuotaRoot {
  std::string root;                      // as printed
  std::optional<int64_t> storage_limit;  // bytes
  std::optional<int64_t> message_limit;
  int64_t storage_used = 0;  // bytes
  int64_t message_used = 0;
};
// `quota -J` output. Resources other than STORAGE and MESSAGE (X-ANNOTATION-STORAGE,
// X-NUM-FOLDERS) have no counterpart in Cubby and are left out.
Result<std::vector<CyrusQuotaRoot>, std::string> parse_quota_json(std::string_view text);

struct CyrusRecord {
  int64_t uid = 0;
  int64_t internaldate = 0;
  int64_t size = 0;
  bool expunged = false;           // FLAG_INTERNAL_EXPUNGED or _UNLINKED: no longer in the mailbox
  bool archived = false;           // FLAG_INTERNAL_ARCHIVED: the file is on the archive partition
  std::vector<std::string> flags;  // \Seen \Answered \Flagged \Deleted \Draft
};
struct CyrusIndex {
  std::string path;  // the mailbox directory
  int64_t uidvalidity = 0;
  int64_t last_uid = 0;
  std::vector<CyrusRecord> records;
};
// `mbexamine <mailbox>` output for one mailbox.
Result<CyrusIndex, std::string> parse_mbexamine(std::string_view text);
// `mbexamine <mailbox> <mailbox>...` output cut into one section per mailbox, each starting at its
// "Examining <name>..." line: (name as mbexamine printed it, section). One mbexamine run for many
// mailboxes saves a start-up each (about 0.1 s: Cyrus loads its time zones).
std::vector<std::pair<std::string, std::string_view>> split_mbexamine(std::string_view text);

// The value of `key` in `cyr_info conf-all` output; nullopt when absent.
std::optional<std::string> cyrus_setting(std::string_view conf_all, std::string_view key);
// An internal name as Cyrus's tools take it on the command line (admin namespace): '.' → '/' and
// '^' → '.' with unixhierarchysep, and "dom!user.x" → "user.x@dom".
std::string cyrus_external_name(std::string_view internal, bool unix_sep);

}  // namespace cubby::ctl
