// Addresses as the address and envelope tests see them: the addr-specs of an RFC 5322
// address-list header (display names, comments and groups dropped), and their parts (RFC 5228
// 2.7.4 :all/:localpart/:domain, RFC 5233 :user/:detail with "+" as the separator).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cubby::sieve {

enum class AddressPart { kAll, kLocalPart, kDomain, kUser, kDetail };

// One entry of an address list: its addr-spec (a quoted local part unquoted, a source route
// dropped) and whether it is one: "local@domain" with both parts present. An entry without
// "<...>" is taken whole, with comments and white space removed; empty entries (an empty group)
// are dropped.
struct ParsedAddress {
  std::string address;
  bool valid = false;
};
std::vector<ParsedAddress> parse_addresses(std::string_view value);

// The valid addr-specs of a header value, in order (what redirect and vacation use).
std::vector<std::string> parse_address_list(std::string_view value);

// What the address test compares for one header value and address part (RFC 5228 2.7.4, as
// Pigeonhole reads it): the parts of the valid entries; when there is none, the whole value for
// :all (an invalid address never matches :localpart or :domain).
std::vector<std::string> address_test_values(std::string_view value, AddressPart part);

// The requested part of `address`; nullopt when it has none (:detail of an address without "+").
// An address without "@" is all local part (RFC 5228 2.7.4 leaves it to the implementation).
std::optional<std::string> address_part(std::string_view address, AddressPart part);

}  // namespace cubby::sieve
