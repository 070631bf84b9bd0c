// The capabilities this Sieve implementation offers, and those of Cyrus's it does not; see sieve.h.
#include "sieve/sieve.h"

namespace cubby::sieve {

const std::vector<std::string_view>& supported_extensions() {
  static const std::vector<std::string_view> list = {
      "body",          "comparator-i;ascii-casemap",
      "comparator-i;ascii-numeric", "comparator-i;octet",
      "copy",          "date",
      "duplicate",     "encoded-character",
      "envelope",      "ereject",
      "fileinto",      "ihave",
      "imap4flags",    "include",
      "index",         "mailbox",
      "regex",         "reject",
      "relational",    "subaddress",
      "vacation",      "vacation-seconds",
      "variables",
  };
  return list;
}

const std::vector<std::string_view>& unsupported_cyrus_extensions() {
  static const std::vector<std::string_view> list = {
      "editheader",       "enotify",           "environment",     "extlists",
      "fcc",              "imapflags",         "mailboxid",       "mboxmetadata",
      "notify",           "processcalendar",   "redirect-deliverby", "redirect-dsn",
      "servermetadata",   "snooze",            "spamtest",        "spamtestplus",
      "special-use",      "virustest",         "vnd.cyrus.imip",  "vnd.cyrus.jmapquery",
      "vnd.cyrus.log",    "vnd.cyrus.snooze",  "vnd.cyrus.implicit_keep_target",
      "x-cyrus-jmapquery", "x-cyrus-log",      "x-cyrus-snooze",
  };
  return list;
}

}  // namespace cubby::sieve
