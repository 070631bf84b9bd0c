// Backend: what the LMTP engine asks of the mail store, and what it hands over for delivery.
//
// The engine (engine.h) does no I/O. It calls a Backend synchronously to judge each RCPT and to open
// the place the message body streams to (a MessageSink: in the server, the stage file). When the
// final dot (or BDAT LAST) has been read it does not deliver by itself: it stops and offers a
// DeliveryRequest (Engine::take_delivery) that the session passes to the store's committer, and it
// resumes when Engine::delivered() brings one Reply per recipient.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.h"
#include "server/lmtp/reply.h"

namespace cubby::lmtp {

// One RCPT as the engine parsed it.
struct RecipientRequest {
  std::string address;       // inside the angle brackets, source route removed; UTF-8 allowed
  bool ignore_quota = false; // RCPT ... IGNOREQUOTA
  uint64_t declared_size = 0;  // MAIL ... SIZE=, 0 when absent
  std::string auth_id;       // MAIL ... AUTH=, decoded; "" when absent or <>
  std::string session_id;    // the session's id, for replies that carry SESSIONID=<...>
};

// The backend's judgement of one RCPT. When accepted, `target` names where the message will go
// (for the store: the internal mailbox name); the engine treats it as opaque and hands it back in
// the DeliveryRequest.
struct RecipientVerdict {
  bool accepted = false;
  Reply rejection;      // valid when !accepted
  std::string target;   // valid when accepted
  RecipientRequest request;
};

// Where the stored bytes of one message are written, in order, as the engine produces them.
// Destroying a sink that was not handed over for delivery discards everything written.
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  // Appends bytes. A write error is remembered; later writes are ignored and failure() says why.
  virtual void write(std::string_view bytes) = 0;
  // Set once a write failed: `451 4.3.1 ...` for ENOSPC/EDQUOT, `451 4.3.0 ...` otherwise.
  virtual const Reply* failure() const = 0;
  // Bytes accepted so far.
  virtual uint64_t size() const = 0;
};

// Facts about the finished message that the store records or logs.
struct MessageInfo {
  std::string session_id;
  std::string mail_from;   // MAIL FROM address, "" for <>
  std::string auth_id;     // MAIL AUTH=, "" when none
  std::string message_id;  // Message-ID header value as stored (generated when missing)
  std::string date;        // Date header value as stored (generated when missing)
  uint64_t size = 0;       // stored size, added headers included
};

struct DeliveryRequest {
  std::unique_ptr<MessageSink> sink;
  MessageInfo info;
  std::vector<RecipientVerdict> recipients;  // the accepted ones, in RCPT order
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Judges one RCPT (existence, rights, quota). Must not block for long.
  virtual RecipientVerdict check_recipient(const RecipientRequest& request) = 0;
  // Opens a sink for a message to the accepted `recipients`. On failure, the Reply sent instead of
  // 354 (`451 4.3.1 cannot create temporary file: ...` for ENOSPC/EDQUOT, else `451 4.3.2 ...`).
  virtual Result<std::unique_ptr<MessageSink>, Reply> open_message(
      const std::vector<RecipientVerdict>& recipients) = 0;
};

}  // namespace cubby::lmtp
