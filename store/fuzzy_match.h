// Fuzzy mailbox matching (lmtp_fuzzy_mailbox_match), as Cyrus's lmtpd does it when the mailbox an
// address names does not exist: a mailbox matches when its names equal the wanted ones with ASCII
// case ignored and ' ', '-' and '_' counted as one character; when none matches the whole name,
// the deepest existing mailbox on the way down, matched the same way.
//
// `wanted` is a user's +detail folder or a shared mailbox. For a folder only the components below
// the user's INBOX are compared (the INBOX itself is the caller's fall-back and is never returned);
// for a shared mailbox, all of them, within the same domain. Among equal matches an exact one wins,
// then the first in name order. The index is read with range scans on the name index (the user's
// mailboxes; for shared names, those starting with a character the first component may start
// with), so the cost is bounded by those mailboxes, not by the size of the store.
#pragma once

#include <optional>
#include <string>

#include "store/index.h"
#include "store/mailbox_name.h"

namespace cubby::store {

// The internal name of the best fuzzy match, or nullopt when not even a first component matches.
std::optional<std::string> fuzzy_match(Index& index, const MailboxName& wanted);

// Whether two names are equal under the fuzzy rule.
bool fuzzy_equal(const std::string& a, const std::string& b);

}  // namespace cubby::store
