// Acl: a mailbox's access control list, with Cyrus's rights letters (RFC 4314).
//
// Stored as Cyrus stores it: "<identifier> TAB <rights> TAB" for each entry, in the order set.
// Rights are letters of "lrswipkxtean": l lookup, r read, s keep seen, w write flags, i insert,
// p post (deliver with LMTP), k create mailboxes, x delete mailbox, t delete messages, e expunge,
// a administer, n annotate. The obsolete c and d are accepted and expanded as Cyrus does (c → k x,
// d → x t e). An identifier starting with '-' holds negative rights, which are taken away from what
// the positive entries grant. "anyone" matches every identity, including the anonymous one (a
// delivery whose MAIL had no AUTH=), "anonymous" only that one; any other identifier matches the
// identity equal to it. Delivery reads only p and l.
//
// Identifiers are non-empty and free of whitespace and control characters (so the stored form
// and the header file, mailbox_header.h, stay parseable); parse() and set() refuse anything else
// with a message for the administrator.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conf/result.h"
#include "store/error.h"

namespace cubby::store {

// Every right in canonical order.
inline constexpr std::string_view kAllRights = "lrswipkxtean";

// Rights as an administrator types them: letters (in any order, obsolete c and d expanded), or a
// named set: none, lookup (l), read (lrs), post (lrsp), append (lrsip), write (lrswipkxte),
// delete (lrxte), all (lrswipkxtean). Returns them in canonical order; "" for none.
Result<std::string, std::string> parse_rights(std::string_view text);

class Acl {
 public:
  using Entry = std::pair<std::string, std::string>;  // identifier, rights (canonical)

  static Result<Acl, std::string> parse(std::string_view stored);
  // The ACL a new mailbox gets: its owner has every right (a user's mailbox), else `default_acl`
  // in the setting's form, "<identifier> <rights> ..." (defaultacl; Cyrus: "anyone lrs").
  static Acl for_new_mailbox(const std::string& owner, std::string_view default_acl);

  std::string str() const;
  const std::vector<Entry>& entries() const { return entries_; }

  // The rights of `identity` ("" is the anonymous identity), canonical order.
  std::string rights_of(std::string_view identity) const;
  bool allows(std::string_view identity, char right) const {
    return rights_of(identity).find(right) != std::string::npos;
  }
  // The rights of the entry `identifier` exactly ("-bob" for bob's negative rights), or "".
  std::string entry(std::string_view identifier) const;
  // Replaces the entry of `identifier` (added at the end if new); empty rights remove it.
  std::optional<std::string> set(std::string_view identifier, std::string_view rights);
  // An administrator's change to the entry of `identifier`, as RFC 4314's SETACL reads it: "+lp"
  // adds to its rights, "-p" takes away from them, anything else replaces them (set()).
  std::optional<std::string> change(std::string_view identifier, std::string_view change);

 private:
  std::vector<Entry> entries_;
};

// Delivery's rights rule, the one place it is written (Cyrus's deliver_mailbox): posting to a
// mailbox that is not the recipient's own INBOX needs `p` for `poster` ("" is the anonymous
// identity); without it the delivery fails kPermission where `l` shows the mailbox, else kNotFound,
// so that a mailbox the poster may not see stays hidden. `stored_acl` is the mailbox's ACL as
// stored; one that does not parse grants nothing. RCPT time and commit time both call it.
[[nodiscard]] std::optional<Error> check_post_right(std::string_view stored_acl,
                                                    std::string_view poster,
                                                    const std::string& mailbox);

// Checks an identifier ("alice", "-alice", "anyone", "alice@example.com").
std::optional<std::string> check_identifier(std::string_view identifier);

}  // namespace cubby::store
