// When a vacation answer must not be sent (RFC 5230 section 4.5-4.6, RFC 3834 section 2):
// the rules that depend only on the message and the envelope. The once-per-period rule needs the
// history and is the interpreter's (Environment::vacation_sent).
#pragma once

#include <string>
#include <vector>

#include "sieve/message.h"
#include "sieve/sieve.h"

namespace cubby::sieve {

// "" when an answer may go to the envelope sender; otherwise which rule holds it back.
// `user_addresses` are the recipient's own addresses (the envelope recipient, with and without
// its +detail, Envelope::user_addresses and the script's :addresses), compared without case.
std::string vacation_blocked(const Message& message, const Envelope& envelope,
                             const std::vector<std::string>& user_addresses);

}  // namespace cubby::sieve
