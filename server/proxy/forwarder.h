// Forwarder: carries one finished message from the front end to the back ends, as Cyrus's
// lmtpproxyd does: one LMTP transaction per back end, and one reply per recipient in the client's
// RCPT order.
//
// forward() groups the request's recipients by their target (the back end's LMTP address,
// front_end_backend.h) and whether they asked IGNOREQUOTA, keeping RCPT order inside each group,
// and runs one transaction per group, all groups at once (one thread each), each over a connection
// from the ConnectionCache when one is open to that back end, else a new one
// (backend_connection.h: greeting, LHLO and SASL once per connection; RSET, MAIL FROM, one RCPT per
// recipient, DATA per transaction). A cached connection that fails before DATA was sent (a back
// end restarted since) is replaced once by a new connection and the transaction run again on it;
// after DATA was sent nothing is sent again, since the back end may have delivered. Each
// recipient then gets the back end's own reply for it: its RCPT refusal, or its reply after the
// message (250 with the back end's SESSIONID, 452 over quota, ...). A back end that cannot be
// reached, or whose connection fails during the transaction, gives `451 4.4.3 Remote server
// unavailable (<why>)` to its own recipients only; the others' replies are whatever their back
// ends said. A connection still healthy after its transaction goes back to the cache.
//
// Back end addresses are "unix:/path" (or an absolute path) and "host:port" (a name or IPv4
// address; "[v6]:port" for IPv6). The back end either treats the front end as pre-authenticated
// (a UNIX socket, or `lmtpd -a` on a trusted network) or asks it to log in: proxy_authname and
// proxy_password (backend_sasl.h), or, with proxy_tls, the front end's TLS client certificate
// (backend_tls.h). The stored bytes the front end made already hold its
// Return-Path and Received lines; the back end drops the Return-Path (it writes its own from MAIL
// FROM) and adds its Received above the front end's.
// Blocking, thread-safe: run it off the event loop.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "conf/result.h"
#include "conf/settings.h"
#include "server/proxy/backend_connection.h"
#include "server/lmtp/backend.h"
#include "server/lmtp/reply.h"

namespace cubby::proxy {

class ConnectionCache;

struct ForwardSettings {
  ConnectionSettings connection;  // LHLO name, timeouts, SASL credentials, TLS (set by the caller)
  size_t cached_per_backend = 4;  // proxy_cached_connections
  std::chrono::milliseconds cache_idle_timeout{60000};  // proxy_connection_idle_timeout

  // From the settings: servername, lmtp_idle_timeout, proxy_* (but not TLS: connection.tls is
  // BackendTls::from(), whose files can fail to load).
  static ForwardSettings from(const conf::Settings& settings);
};

// `request.sink` must be a SpoolSink (FrontEndBackend::open_message). `cache` may be null: every
// transaction then has a connection of its own, closed after it.
std::vector<lmtp::Reply> forward(const lmtp::DeliveryRequest& request,
                                 const ForwardSettings& settings, ConnectionCache* cache = nullptr);

// Connects to a back end address ("unix:/path", "/path", "host:port", "[v6]:port") within
// `timeout`; the connected socket or why not.
Result<int, std::string> connect_backend(const std::string& address,
                                         std::chrono::milliseconds timeout);

}  // namespace cubby::proxy
