// Opening the listening socket of one service address, at start-up, on reload and when a disabled
// address is enabled again.
//
// A UNIX socket's missing directories are created (0755) and, when `dirs_owner` is given (the
// master is about to switch to the service user), handed to that user so that a later reload can
// bind there again; the socket gets the entry's mode (default 0660), owner and group. The error
// names what failed (`cannot create directory ...`, `unknown user "x"`, bind_listener()'s text).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>

#include "conf/listen.h"
#include "conf/result.h"

namespace cubby::server {

struct ListenTarget {
  conf::ListenAddress address;
  int mode = 0;              // UNIX socket permission bits; 0 = 0660
  std::string owner, group;  // UNIX socket owner and group; "" = the master's
  int backlog = 128;
};

Result<int, std::string> open_listener(const ListenTarget& target,
                                       std::optional<std::pair<uid_t, gid_t>> dirs_owner);

}  // namespace cubby::server
