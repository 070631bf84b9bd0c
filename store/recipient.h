// Recipient addresses to mailboxes, as Cyrus's mbname_from_recipient maps them, with one
// correction: the domain is lower-cased before it is compared with defaultdomain (Cyrus issue 3414).
//
// In order:
//   1. Split at the last '@' (a quoted local part loses its quotes).
//   2. virtdomains off: the domain is dropped. On: a domain equal to defaultdomain (both compared
//      lower-cased) is dropped; any other is kept, lower-cased when lmtp_downcase_rcpt.
//   3. Split the local part at its first '+': the user before it, the detail after it.
//   4. lmtp_downcase_rcpt lower-cases the user (ASCII letters); never the detail.
//   5. The detail is converted from UTF-8 to IMAP modified UTF-7 (imap_utf7.h) and split on the
//      hierarchy separator ('/' with unixhierarchysep, else '.') into folder names.
//   6. A user equal to postuser names a shared mailbox: the detail's folders are its name
//      ("+shared/foo" with the default empty postuser → shared.foo; "bb+shared.blah" with
//      postuser bb and '.' as separator → shared.blah). Otherwise the address names the user's
//      INBOX ([domain!]user.<user>) and the detail a folder below it; a detail that is the single
//      name INBOX (any case) means the INBOX itself.
// The mapping is a pure function of the address and the rules; whether the mailboxes exist, and
// who may post to them, is the caller's business. A detail that cannot be a folder name (bad
// UTF-8, an empty or reserved component) is dropped so the message goes to the INBOX; an address
// whose user or shared name cannot be a mailbox name is an Error (kBadName or kNotFound), which the
// LMTP layer answers as an unknown recipient.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "conf/result.h"
#include "conf/settings.h"
#include "store/error.h"
#include "store/mailbox_name.h"

namespace cubby::store {

struct AddressRules {
  bool downcase = true;        // lmtp_downcase_rcpt
  bool unix_sep = true;        // unixhierarchysep: '/' (else '.') separates folders in a detail
  bool virtdomains = false;    // virtdomains: userid or on
  std::string default_domain;  // defaultdomain
  std::string postuser;        // postuser

  static AddressRules from(const conf::Settings& settings);
};

struct RecipientMailbox {
  MailboxName mailbox;                // the user's INBOX, or the shared mailbox
  std::optional<MailboxName> folder;  // user addresses: the +detail folder below the INBOX
  bool shared = false;
  std::string userid;  // the INBOX's owner ("alice", "alice@example.com"); "" when shared
};

Result<RecipientMailbox, Error> map_recipient(std::string_view address, const AddressRules& rules);

// The INBOX of a userid as an administrator writes it in a setting (lmtp_catchall_mailbox):
// "alice", or "alice@example.com" under virtdomains. Any +detail is ignored.
Result<MailboxName, Error> inbox_of_userid(std::string_view userid, const AddressRules& rules);

// The userid that owns a user mailbox ("alice", "alice@example.com"); "" for a shared mailbox.
std::string owner_of(const MailboxName& mailbox);

}  // namespace cubby::store
