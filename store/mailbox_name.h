// Mailbox names: the internal form the index keys on, the external form people type, and the
// directory a mailbox lives in on its partition.
//
// Internal names are Cyrus's: components joined by '.', a '.' inside a component written '^', an
// optional virtual domain in front ("example.com!user.alice.Work"). External names use '/' between
// components when unixhierarchysep is on (the default: "user/alice/Work", where "a.b" is a legal
// component) and '.' otherwise (a '.' inside a component is then written '^'), with "@<domain>"
// after the last component. A component, and a domain, must be non-empty, at most 255 bytes, and
// free of NUL, control characters, '/', '^', '!' (which ends a domain) and the names "." and "..";
// a domain holds no '@' either; a name is at most 1024 bytes (its domain aside). So a mailbox
// directory can never escape its partition. A name whose external form reads back differently:
// one without a domain whose component holds '@' (Cyrus allows "user.a@b" without virtdomains;
// its external form "user/a@b" reads back as user "a" in domain "b"). The directory is the Cyrus
// legacy layout:
// "user/alice/Work", with hashimapspool "a/user/alice/Work", with a domain
// "domain/example.com/user/alice" (hashed: "domain/e/example.com/a/user/alice").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.h"
#include "store/error.h"

namespace cubby::store {

class MailboxName {
 public:
  // Parses an external name typed by an administrator or derived from an address.
  static Result<MailboxName, Error> from_external(std::string_view external, bool unix_sep);
  // Parses an internal name as stored in the index.
  static Result<MailboxName, Error> from_internal(std::string_view internal);
  // user.<userid>[.<folder>...] in `domain` ("" for none).
  static Result<MailboxName, Error> for_user(std::string_view userid,
                                             const std::vector<std::string>& folders,
                                             std::string_view domain = "");
  // A shared mailbox (no user part): <components...> in `domain` ("" for none).
  static Result<MailboxName, Error> shared(const std::vector<std::string>& components,
                                           std::string_view domain = "");

  std::string internal() const;
  std::string external(bool unix_sep) const;
  // Directory relative to the partition root.
  std::string relative_dir(bool hash_spool) const;

  const std::string& domain() const { return domain_; }
  const std::vector<std::string>& components() const { return parts_; }  // unescaped
  bool is_user() const { return parts_.size() >= 2 && parts_[0] == "user"; }
  bool is_inbox() const { return parts_.size() == 2 && parts_[0] == "user"; }
  bool is_shared() const { return !is_user(); }
  // The INBOX of the user this mailbox belongs to (itself for an INBOX); nullopt if shared.
  std::optional<MailboxName> inbox() const;
  // The mailbox one level up; nullopt at the top ("user.alice" has no parent: "user" is no
  // mailbox).
  std::optional<MailboxName> parent() const;
  // This name with its first `prefix.components().size()` components replaced by `to`'s; the
  // caller has checked that `prefix` is this name or one of its ancestors (same domain).
  MailboxName with_prefix_replaced(const MailboxName& prefix, const MailboxName& to) const;
  // True when `other` is this mailbox or below it.
  bool contains(const MailboxName& other) const;
  bool operator==(const MailboxName&) const = default;

 private:
  [[nodiscard]] static std::optional<Error> check_component(std::string_view c);
  [[nodiscard]] static std::optional<Error> check_domain(std::string_view d);  // a component without '@' 
  // for_user() and shared(): every component, the domain and the length of a name built whole.
  [[nodiscard]] std::optional<Error> check_built() const;
  std::string domain_;
  std::vector<std::string> parts_;
};

}  // namespace cubby::store
