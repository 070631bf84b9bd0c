// Shared by cubbyctl's user transfer commands (user_transfer.cc, user_move.cc).
#pragma once

#include <string>

#include "conf/result.h"
#include "store/mailbox_name.h"

namespace cubby::ctl {

// The INBOX of `user` ("alice", or "alice@example.com" in a domain), or why the name is refused.
Result<store::MailboxName, std::string> user_inbox(const std::string& user);

}  // namespace cubby::ctl
