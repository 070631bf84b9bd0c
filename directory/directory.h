// Directory: where each user's mailboxes live when Cubby runs on more than one machine.
//
// A front end (lmtpd -P, docs/scale-out.md) asks locate(userid) for every recipient and forwards
// the message to the back end named in the answer. The answer is a Location: the back end's LMTP
// address ("unix:/path" or "host:port") and the partition on it that holds the user's mailboxes.
// A lookup fails in one of two ways, and the difference decides what the sender hears:
//   kUnknownUser  the directory answered and has no such user: a permanent `550 5.1.1`;
//   kUnreachable  the directory could not answer (down, failing over, a query error): a temporary
//                 `451 4.4.3`, so the sending MTA retries and nothing bounces.
// Implementations: PostgresDirectory (the shared, replicated directory) and DirectoryCache (a
// front end's short memory of answers, which keeps known users deliverable while the directory
// is unreachable). A Directory is used from one thread at a time.
#pragma once

#include <string>

#include "conf/result.h"

namespace cubby::directory {

struct Location {
  std::string backend;    // LMTP address of the back end: "unix:/path" or "host:port"
  std::string partition;  // the partition on that back end
  bool operator==(const Location&) const = default;
};

enum class Fault { kUnknownUser, kUnreachable };

struct LookupError {
  Fault fault = Fault::kUnreachable;
  std::string detail;  // for the log: why the directory could not answer
};

class Directory {
 public:
  virtual ~Directory() = default;
  // Where `userid` ("alice", or "alice@example.com" under virtdomains) lives.
  virtual Result<Location, LookupError> locate(const std::string& userid) = 0;
};

}  // namespace cubby::directory
