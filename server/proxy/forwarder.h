// Forwarder: carries one finished message from the front end to the back ends, as Cyrus's
// lmtpproxyd does: one LMTP transaction per back end, and one reply per recipient in the client's
// RCPT order.
//
// forward() groups the request's recipients by their target (the back end's LMTP address,
// front_end_backend.h) and whether they asked IGNOREQUOTA, keeping RCPT order inside each group,
// and runs one transaction per group, all groups at once (one thread each), over a new connection:
// greeting, LHLO, RSET, MAIL FROM (with AUTH= and SIZE= when offered), one RCPT per recipient, DATA
// with the stored bytes, one reply per accepted recipient, QUIT (deliver's client session,
// server/deliver/deliver_session.h). Each recipient then gets the back end's own reply for it: its
// RCPT refusal, or its reply after the message (250 with the back end's SESSIONID, 452 over quota,
// ...). A back end that cannot be reached, or whose connection fails during the transaction, gives
// `451 4.4.3 Remote server unavailable (<why>)` to its own recipients only; the others' replies
// are whatever their back ends said.
//
// Back end addresses are "unix:/path" (or an absolute path) and "host:port" (a name or IPv4
// address; "[v6]:port" for IPv6). The back end must treat the front end as pre-authenticated (a
// UNIX socket, or `lmtpd -a` on a trusted network): SASL to the back ends and a connection cache
// are not built yet (docs/scale-out.md). The stored bytes the front end made already hold its
// Return-Path and Received lines; the back end drops the Return-Path (it writes its own from MAIL
// FROM) and adds its Received above the front end's.
// Blocking, thread-safe (it holds no state between calls): run it off the event loop.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "conf/result.h"
#include "server/lmtp/backend.h"
#include "server/lmtp/reply.h"

namespace cubby::proxy {

struct ForwardSettings {
  std::string lhlo_name = "localhost";          // the front end's name in LHLO
  std::chrono::milliseconds timeout{300000};    // every wait on a back end
  std::chrono::milliseconds connect_timeout{10000};
};

// `request.sink` must be a SpoolSink (FrontEndBackend::open_message).
std::vector<lmtp::Reply> forward(const lmtp::DeliveryRequest& request,
                                 const ForwardSettings& settings);

// Connects to a back end address ("unix:/path", "/path", "host:port", "[v6]:port") within
// `timeout`; the connected socket or why not.
Result<int, std::string> connect_backend(const std::string& address,
                                         std::chrono::milliseconds timeout);

}  // namespace cubby::proxy
