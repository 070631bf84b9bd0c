// Recognising the Cyrus programs Cubby does not provide; see cyrus_programs.h.
#include "server/master/cyrus_programs.h"

#include <sstream>
#include <string_view>

namespace cubby::server {
namespace {

// Cyrus IMAP 3.x's daemons and tools (its master/, imap/, timsieved/, notifyd/ programs), less
// lmtpd and deliver, which Cubby provides.
constexpr std::string_view kCyrusOnly[] = {
    "imapd",        "pop3d",       "nntpd",         "httpd",         "timsieved",
    "notifyd",      "fud",         "idled",         "proxyd",        "lmtpproxyd",
    "mupdate",      "smmapd",      "backupd",       "sync_server",   "sync_client",
    "ptloader",     "calalarmd",   "squatter",      "ctl_cyrusdb",   "ctl_deliver",
    "ctl_mboxlist", "ctl_backups", "ctl_conversationsdb", "ctl_zoneinfo", "cyr_expire",
    "expire",       "tls_prune",   "cyr_tls_prune", "cyr_synclog",   "cyr_dbtool",
    "cyr_deny",     "cyr_df",      "cyr_info",      "cyr_buildinfo", "cyr_virusscan",
    "cyr_userseen", "cyr_ls",      "cyr_backup",    "chk_cyrus",     "cvt_cyrusdb",
    "reconstruct",  "quota",       "ipurge",        "arbitron",      "mbexamine",
    "mbpath",       "mbtool",      "unexpunge",     "dav_reconstruct", "cyrdump",
    "relocate_by_id", "master"};

std::string basename_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::optional<std::string> foreign_cyrus_program(const conf::ServiceEntry& entry) {
  auto cmd = entry.args.find("cmd");
  if (cmd == entry.args.end()) return std::nullopt;
  std::istringstream words(cmd->second);
  std::string first, second;
  words >> first >> second;
  std::string program = basename_of(first);
  // Debian's /usr/sbin/cyrus runs /usr/lib/cyrus/bin/<its first argument>.
  if (program == "cyrus" && !second.empty()) program = basename_of(second);
  for (std::string_view name : kCyrusOnly) {
    if (program == name) return program;
  }
  return std::nullopt;
}

}  // namespace cubby::server
