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

// The addr-specs of a header value, in order. Tolerant: a part without "<...>" is taken whole
// with comments and surrounding space removed; empty parts (an empty group) are dropped.
std::vector<std::string> parse_address_list(std::string_view value);

// The requested part of `address`; nullopt when it has none (:detail of an address without "+").
// An address without "@" is all local part (RFC 5228 2.7.4 leaves it to the implementation).
std::optional<std::string> address_part(std::string_view address, AddressPart part);

}  // namespace cubby::sieve
