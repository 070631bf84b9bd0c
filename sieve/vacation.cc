// The vacation suppression rules; see vacation.h.
#include "sieve/vacation.h"

#include <strings.h>

#include <cctype>

#include "sieve/address.h"

namespace cubby::sieve {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_user(const std::string& address, const std::vector<std::string>& user_addresses) {
  const std::string a = lower(address);
  for (const auto& u : user_addresses)
    if (lower(u) == a) return true;
  return false;
}

}  // namespace

std::string vacation_blocked(const Message& message, const Envelope& envelope,
                             const std::vector<std::string>& user_addresses) {
  if (envelope.from.empty()) return "the message has a null sender";
  const std::string local =
      lower(address_part(envelope.from, AddressPart::kLocalPart).value_or(""));
  if (local == "mailer-daemon" || local == "listserv" || local == "majordomo" ||
      local.rfind("owner-", 0) == 0 ||
      (local.size() > 8 && local.compare(local.size() - 8, 8, "-request") == 0))
    return "the sender is a mailing list or mailer daemon (" + envelope.from + ")";
  for (const auto& v : message.decoded_values("Auto-Submitted")) {
    if (strcasecmp(v.c_str(), "no") != 0) return "the message is Auto-Submitted: " + v;
  }
  for (const auto& f : message.header()) {
    const std::string name = lower(f.name);
    if (name == "list-id" || name == "list-help" || name == "list-subscribe" ||
        name == "list-unsubscribe" || name == "list-post" || name == "list-owner" ||
        name == "list-archive")
      return "the message comes from a mailing list (" + f.name + ")";
  }
  for (const auto& v : message.decoded_values("Precedence")) {
    const std::string p = lower(v);
    if (p == "bulk" || p == "list" || p == "junk") return "the message has Precedence: " + v;
  }
  if (is_user(envelope.from, user_addresses)) return "the sender is the user";
  for (const char* h : {"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"}) {
    for (const auto& v : message.decoded_values(h)) {
      for (const auto& a : parse_address_list(v))
        if (is_user(a, user_addresses)) return "";
    }
  }
  return "none of the user's addresses is in To, Cc or Bcc";
}

}  // namespace cubby::sieve
