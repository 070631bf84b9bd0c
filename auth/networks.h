// NetworkList: which client addresses may connect to a TCP service (lmtp_allow_networks).
//
// Built from a list of networks in CIDR form, IPv4 or IPv6 ("192.0.2.0/24", "2001:db8::/32"; a
// bare address is one host). contains() takes a peer's numeric address as auth::Peer writes it
// ("192.0.2.7", "IPv6:2001:db8::1"; an IPv4-mapped IPv6 address is compared as IPv4). An empty
// list contains every address: no restriction.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.h"

namespace cubby::auth {

class NetworkList {
 public:
  NetworkList() = default;
  // Fails with the first item that is not a network.
  static Result<NetworkList, std::string> parse(const std::vector<std::string>& items);

  bool empty() const { return networks_.empty(); }
  bool contains(std::string_view address) const;

 private:
  struct Network {
    bool v6 = false;
    std::array<uint8_t, 16> bytes{};
    unsigned prefix = 0;
  };
  static bool read_address(std::string_view text, Network* out);
  std::vector<Network> networks_;
};

}  // namespace cubby::auth
