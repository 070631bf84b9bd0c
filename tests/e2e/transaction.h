// One LMTP transaction with every reply kept, for tests that expect some recipients to be refused
// (at RCPT or after the final dot).
#pragma once

#include <string>
#include <vector>

#include "tests/e2e/lmtp_client.h"

namespace cubby::e2e {

struct Transaction {
  LmtpReply mail;                  // the reply to MAIL
  std::vector<LmtpReply> rcpt;     // one per RCPT, in order
  LmtpReply data;                  // the reply to DATA (354, or 503 when no RCPT was accepted)
  std::vector<LmtpReply> final;    // one per accepted RCPT after the final dot
  int accepted() const;
};

// On a connection (reading the greeting and sending LHLO first when `greet`): "MAIL FROM:<mail>",
// then "RCPT TO:<r>" for each of `rcpts` (an entry may end in "> IGNOREQUOTA": everything after
// "RCPT TO:<" is taken as written when it contains '>'), DATA and `content` when a recipient was
// accepted. `mail` is what follows "MAIL FROM:<" up to and including any parameters, e.g.
// "a@b> SIZE=100"; a plain address gets its '>' added.
Transaction run_transaction(LmtpClient& c, const std::string& mail,
                            const std::vector<std::string>& rcpts, const std::string& content,
                            bool greet = true);

}  // namespace cubby::e2e
