// Whether a local user (by default `postfix`, whose lmtp(8) delivers to the lmtpunix socket) may
// connect to a UNIX socket the master made: search permission on every directory above it and
// write permission on the socket, by the owner, group (primary or supplementary) and other bits
// as the kernel checks them. The master logs the answer as a warning at start, so that a Cyrus
// configuration moved over without its socket line (docs/guide.md, "Moving from Cyrus") is
// noticed before the first deferred mail. Nothing is said when the user does not exist.
#pragma once

#include <optional>
#include <string>

namespace cubby::server {

// Why `user` could not connect to the socket at `path` ("postfix (uid 107) cannot connect to
// /run/cubby/socket/lmtp: the socket is 0660 root:root"), or nullopt if it could or `user` does
// not exist. Root can always connect.
std::optional<std::string> socket_unreachable_by(const std::string& path,
                                                 const std::string& user = "postfix");

}  // namespace cubby::server
