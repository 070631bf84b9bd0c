// Recipient addresses to mailboxes, as Cyrus's mbname_from_recipient maps them.
//
// The address is split at its last '@'; with virtdomains off the domain is dropped (an address's
// domain is the MTA's business). The local part is split at its first '+': what precedes is the
// user (lower-cased when lmtp_downcase_rcpt), what follows is the detail, never lower-cased, split
// on the hierarchy separator into folder names below the user's INBOX ("alice+Lists/foo" →
// user.alice.Lists.foo). The result names the user's INBOX and, when there is a detail, the folder;
// the caller decides where the message goes (the folder if it exists, else the INBOX).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "conf/result.h"
#include "store/error.h"
#include "store/mailbox_name.h"

namespace cubby::store {

struct AddressRules {
  bool downcase = true;   // lmtp_downcase_rcpt
  bool unix_sep = true;   // unixhierarchysep: '/' (else '.') separates folders in a detail
};

struct RecipientMailboxes {
  MailboxName inbox;
  std::optional<MailboxName> folder;  // from +detail
  std::string user;                   // the user part, as used in the INBOX name
};

Result<RecipientMailboxes, Error> map_recipient(std::string_view address, const AddressRules& rules);

}  // namespace cubby::store
