// deliver's LMTP session with lmtpd: one message to a list of recipients, and what became of each.
//
// deliver_message() follows Cyrus's lmtp_runtxn, one command at a time: read the 220 greeting,
// `LHLO <name>` (noting AUTH, IGNOREQUOTA, 8BITMIME and SIZE among the capabilities), then per
// transaction `RSET`, `MAIL FROM:<rp>` with ` AUTH=<xtext id>` or ` AUTH=<>` when AUTH is offered,
// ` BODY=8BITMIME` when the message has 8-bit bytes and 8BITMIME is offered, ` SIZE=<n>` when SIZE
// is offered, one `RCPT TO:<addr>` (with ` IGNOREQUOTA` when asked and offered) per recipient, and
// when at least one was accepted `DATA`, the dot-stuffed message and one reply per accepted
// recipient in order; finally `QUIT`.
//
// Every recipient ends with a Recipient::Outcome and the reply that decided it: its RCPT reply
// when refused, its reply after the message otherwise. A failure that is not about one recipient
// (no greeting, a refused RSET, MAIL or DATA, a lost connection) decides every recipient still
// open: as temporary before MAIL and whenever the connection fails, else by the reply's class.
// A recipient that got 250 after the message stays delivered whatever happens next. Recipients
// refused with `452 4.5.3` (too many recipients) go into a further transaction, as RFC 5321
// asks, as long as each transaction delivers to someone.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "server/deliver/deliver_lmtp.h"
#include "server/deliver/deliver_message.h"
#include "server/lmtp/reply.h"

namespace cubby::deliver {

struct Envelope {
  std::string mail_from;               // the path with its brackets: "<bob@example.org>", "<>"
  std::optional<std::string> auth_id;  // -a; none: AUTH=<>
  bool ignore_quota = false;
  std::vector<std::string> recipients;  // addresses without brackets
};

struct Recipient {
  enum class Outcome { kDelivered, kTempFail, kPermFail };
  std::string address;
  Outcome outcome = Outcome::kTempFail;
  lmtp::Reply reply;  // the server's, or one deliver made up (e.g. 451 4.4.2 for a lost connection)
};

// Runs the session on a connection whose greeting has not been read yet; `lhlo_name` is the
// argument of LHLO. Returns one entry per envelope recipient, in order.
std::vector<Recipient> deliver_message(LmtpConnection& connection, const std::string& lhlo_name,
                                       const Envelope& envelope, const SpooledMessage& message);

// sysexits code for the outcomes: 0 when all were delivered, 75 (EX_TEMPFAIL) when any failed
// temporarily, else 65 (EX_DATAERR).
int exit_code(const std::vector<Recipient>& recipients);

}  // namespace cubby::deliver
