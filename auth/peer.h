// Who is on the other end of an LMTP connection, and whether they may deliver without a password.
//
// As Cyrus: a peer on a UNIX socket (or any descriptor that is not an Internet socket: a pipe, a
// socketpair) is trusted, "postman"; so is any peer when lmtpd runs with -a. Other TCP peers must
// authenticate (SASL, or a TLS client certificate of an LMTP admin) and until then get 430 at
// MAIL. Which TCP peers may connect at all is auth::NetworkList's business.
#pragma once

#include <string>

namespace cubby::auth {

struct Peer {
  bool local = false;   // UNIX socket or other non-Internet descriptor
  std::string address;  // numeric IP address of a TCP peer ("192.0.2.1", "IPv6:2001:db8::1")
  // The two ends as libsasl2 wants them, "<ip>;<port>"; "" for a local peer.
  std::string local_ip_port, remote_ip_port;
  // For Received: "[unix socket]" or "[<ip>]" (no reverse DNS: it would stall the event loop).
  std::string received_host() const { return local ? "[unix socket]" : "[" + address + "]"; }
};

// Whether the peer is pre-authenticated as "postman".
inline bool trusted_without_password(const Peer& peer, bool preauth_flag) {
  return peer.local || preauth_flag;
}

// Describes a connected socket descriptor.
Peer describe_peer(int fd);

}  // namespace cubby::auth
