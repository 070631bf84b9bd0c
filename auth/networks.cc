// Matching peer addresses against CIDR networks; see networks.h.
#include "auth/networks.h"

#include <arpa/inet.h>

#include <cstring>

#include "conf/values.h"

namespace cubby::auth {

bool NetworkList::read_address(std::string_view text, Network* out) {
  if (text.starts_with("IPv6:")) text.remove_prefix(5);
  const std::string s(text);
  in6_addr v6{};
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out->v6 = false;
    std::memcpy(out->bytes.data(), &v4, 4);
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      out->v6 = false;
      std::memcpy(out->bytes.data(), &v6.s6_addr[12], 4);
    } else {
      out->v6 = true;
      std::memcpy(out->bytes.data(), &v6, 16);
    }
    return true;
  }
  return false;
}

Result<NetworkList, std::string> NetworkList::parse(const std::vector<std::string>& items) {
  NetworkList list;
  for (const std::string& item : items) {
    if (auto problem = conf::check_cidr(item)) return fail(*problem);
    const size_t slash = item.find('/');
    Network n;
    if (!read_address(std::string_view(item).substr(0, slash), &n)) {
      return fail("\"" + item + "\" is not an IP network");
    }
    const unsigned max = n.v6 ? 128 : 32;
    n.prefix = slash == std::string::npos
                   ? max
                   : static_cast<unsigned>(std::stoul(item.substr(slash + 1)));
    if (n.prefix > max) n.prefix = max;
    list.networks_.push_back(n);
  }
  return list;
}

bool NetworkList::contains(std::string_view address) const {
  if (networks_.empty()) return true;
  Network peer;
  if (!read_address(address, &peer)) return false;
  for (const Network& n : networks_) {
    if (n.v6 != peer.v6) continue;
    unsigned bits = n.prefix;
    size_t i = 0;
    for (; bits >= 8; bits -= 8, ++i) {
      if (n.bytes[i] != peer.bytes[i]) break;
    }
    if (bits >= 8) continue;  // a whole byte differed
    if (bits == 0) return true;
    const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - bits));
    if ((n.bytes[i] & mask) == (peer.bytes[i] & mask)) return true;
  }
  return false;
}

}  // namespace cubby::auth
