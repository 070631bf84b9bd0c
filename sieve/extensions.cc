// The capabilities this Sieve implementation offers, and those of Cyrus's it does not; see sieve.h.
#include "sieve/sieve.h"

namespace cubby::sieve {

const std::vector<std::string_view>& supported_extensions() {
  static const std::vector<std::string_view> list = {
      "body",
      "comparator-i;ascii-casemap",
      "comparator-i;ascii-numeric",
      "comparator-i;octet",
      "copy",
      "date",
      "duplicate",
      "encoded-character",
      "envelope",
      "ereject",
      "fileinto",
      "ihave",
      "imap4flags",
      "include",
      "index",
      "mailbox",
      "regex",
      "reject",
      "relational",
      "subaddress",
      "vacation",
      "vacation-seconds",
      "variables",
  };
  return list;
}

bool ihave(std::string_view capability, const std::vector<std::string>& required) {
  for (const auto& r : required)
    if (r == capability) return true;
  if (capability == "variables" || capability == "encoded-character") return false;
  for (auto c : supported_extensions())
    if (c == capability) return true;
  return false;
}

const std::vector<std::string_view>& unsupported_cyrus_extensions() {
  static const std::vector<std::string_view> list = {
      "editheader",
      "enotify",
      "environment",
      "extlists",
      "fcc",
      "imapflags",
      "mailboxid",
      "mboxmetadata",
      "notify",
      "processcalendar",
      "redirect-deliverby",
      "redirect-dsn",
      "servermetadata",
      "special-use",
      "vnd.cyrus.imip",
      "vnd.cyrus.jmapquery",
      "vnd.cyrus.log",
      "vnd.cyrus.snooze",
      "vnd.cyrus.implicit_keep_target",
      "x-cyrus-jmapquery",
      "x-cyrus-log",
      "x-cyrus-snooze",
  };
  return list;
}

}  // namespace cubby::sieve
