// listen= values of the services file, resolved to socket addresses, and listening sockets made
// from them.
//
// Accepted forms (as Cyrus's master/master.c parse_inet_listen): `/path` (a UNIX socket), `port`,
// `host:port` (split at the last `:`), `[v6addr]:port`, `[v6addr]`; `port` is a number or a service
// name from /etc/services (`lmtp` is 24 even where /etc/services lacks it); `[v6addr]` alone means
// port 24. No host means the wildcard address. One address is returned per getaddrinfo() result,
// restricted by proto (tcp: v4 and v6, tcp4, tcp6), so one listening socket is made per resolved
// address; duplicates and families the kernel cannot make sockets for are left out.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "conf/result.h"

namespace cubby::conf {

struct ListenAddress {
  bool is_unix = false;
  std::string path;  // UNIX socket path when is_unix
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  // "/path", "1.2.3.4:24" or "[::1]:24".
  std::string display() const;
};

// Resolves `listen`; the error says what is wrong with it, e.g. `listen "host:": no port after
// ":"`, `listen "x:smtpx": unknown service "smtpx"`, `listen "" is empty`.
Result<std::vector<ListenAddress>, std::string> resolve_listen(std::string_view listen,
                                                               std::string_view proto = "tcp");

// Creates a listening socket (close-on-exec, non-blocking, SO_REUSEADDR; IPV6_V6ONLY on v6). A UNIX
// socket's stale file is removed first (only if it is a socket: any other file is left alone and is
// an error) and the socket gets `unix_mode` permission bits (0 means 0660). Returns the descriptor,
// owned by the caller, or what failed with strerror, e.g. `bind 127.0.0.1:2424: Address already in
// use`.
Result<int, std::string> bind_listener(const ListenAddress& address, int backlog, int unix_mode);

}  // namespace cubby::conf
