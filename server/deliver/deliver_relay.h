// relay_lmtp(): `deliver -l`, which passes an LMTP session between its client (stdin/stdout, e.g.
// a socket from inetd) and lmtpd's UNIX socket byte for byte, so that the client gets lmtpd's
// pre-authenticated local session.
//
// Both directions run at once (poll(2)), each through a 64 KiB buffer, so neither side can stall
// the other and memory stays bounded. The relay ends cleanly:
//  - when the client stops sending (end of file on `client_in`): what it sent is passed on, then
//    the server socket is shut down for writing, so lmtpd sees the end of its input, and the
//    relay goes on passing lmtpd's replies until lmtpd closes;
//  - when lmtpd closes: what it sent is passed on, `client_out` is shut down for writing (when it
//    is a socket), and the relay ends.
// An I/O error on either side (the client gone while lmtpd still talks, a reset) ends it at once.
// The descriptors are made non-blocking for the duration and restored afterwards; none is closed.
#pragma once

#include <string>

namespace cubby::deliver {

// Returns "" after a clean end, else what went wrong ("writing to the client: Broken pipe").
std::string relay_lmtp(int client_in, int client_out, int server);

}  // namespace cubby::deliver
