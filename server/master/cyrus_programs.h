// The Cyrus programs Cubby does not provide, so that a Cyrus cyrus.conf can be used as it is.
//
// A Cyrus site's cyrus.conf runs imapd, pop3d, nntpd, httpd, timsieved, notifyd, ... as SERVICES,
// and Cyrus tools (ctl_cyrusdb, cyr_expire, tls_prune, ...) as START and EVENTS entries, often
// through Debian's wrapper (`/usr/sbin/cyrus ctl_cyrusdb -r`). cubby-master skips such an entry
// with one warning instead of refusing to start; an entry naming any other program that cannot be
// found still fails (master_plan.h). The decision is by program name only: a Cyrus imapd that is
// installed is skipped all the same, since it speaks Cyrus's master protocol, not Cubby's.
#pragma once

#include <optional>
#include <string>

#include "conf/services.h"

namespace cubby::server {

// The Cyrus program `entry`'s cmd= runs, when it is one Cubby does not provide (e.g. "imapd",
// "ctl_cyrusdb"); nullopt for Cubby's own programs (lmtpd, deliver) and anything unknown.
std::optional<std::string> foreign_cyrus_program(const conf::ServiceEntry& entry);

}  // namespace cubby::server
