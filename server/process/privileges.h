// Who Cubby's programs run as.
//
// Started as root, the programs run as the service user: `cubby_user` (default "cubby") with group
// `cubby_group` (default: that user's primary group) and the user's supplementary groups.
//   - cubby-master creates and hands over the store's directories, binds its sockets as root, then
//     switches for good, keeping only CAP_NET_BIND_SERVICE so that a reload can bind port 24 again;
//     its children (workers, START, EVENTS, DAEMON) inherit the user and no capability;
//   - lmtpd refuses to run as root when there is a service user to run as (Cyrus's lmtpd refuses
//     root always; see root_refusal());
//   - cubbyctl switches before it opens the store, so that what it creates belongs to the user.
// When cubby_user is left at its default and no user "cubby" exists, everything stays root with a
// warning: the default set-up and the tests run as root. A cubby_user or cubby_group that is set in
// the settings file but does not exist is an error. `cubby_user: root` runs as root on purpose.
// Started as any other user, nothing changes (systemd's User=, say).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "conf/result.h"
#include "conf/settings.h"

namespace cubby::server {

struct ServiceIdentity {
  enum class Kind {
    kUnchanged,      // not root, or root on purpose: nothing to do
    kRootByDefault,  // root, and the default user does not exist: stay root, warn
    kSwitch,         // root: switch to uid/gid
  };
  Kind kind = Kind::kUnchanged;
  std::string user, group;  // names, for messages (kSwitch)
  uid_t uid = 0;
  gid_t gid = 0;
  std::string warning;  // kRootByDefault: what to log
};

// Decides from the settings and the effective uid. The error names the setting and its origin,
// e.g. `cubby_user "mail2" (imapd.conf:4) does not exist`.
Result<ServiceIdentity, std::string> resolve_service_identity(const conf::Settings& settings);

// Switches the process to `id` when it says so (initgroups, setresgid, setresuid; irreversible);
// with `keep_bind_capability` CAP_NET_BIND_SERVICE stays effective and nothing else. Checks that
// root cannot be regained. The error says which step failed.
std::optional<std::string> switch_identity(const ServiceIdentity& id, bool keep_bind_capability);

// lmtpd's rule: running as root is refused when `id` names a user to run as (the message says
// how to start it instead); allowed when there is none (kRootByDefault, kUnchanged).
std::optional<std::string> root_refusal(const ServiceIdentity& id);

// Creates configdirectory (0750) and every partition (0700) that is missing. When `id` switches
// and master_chown is on, a directory the user does not own is given to it with everything under
// it (the first start after a set-up made as root; a tree already the user's is not walked). The
// returned lines say what was done, for the log.
Result<std::vector<std::string>, std::string> prepare_store_directories(
    const conf::Settings& settings, const ServiceIdentity& id);

// For tools such as cubbyctl: when started as root with a service user, prepares the directories
// and switches to the user (without capabilities); otherwise does nothing, silently. The error is
// printable.
std::optional<std::string> become_service_user(const conf::Settings& settings);

}  // namespace cubby::server
