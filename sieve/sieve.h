// The Sieve mail filtering language (RFC 5228 and the extensions of docs/sieve.md): compile a
// script once, evaluate it over each message, get back the list of actions delivery must take.
//
// The library does no I/O of its own. Everything it needs to know about the world (which mailboxes
// exist, the duplicate and vacation history, the source of an included script, the time) it asks
// the Environment the caller passes; everything it decides comes back as an Outcome, a plain list
// of actions. Nothing is delivered, sent or recorded here: the caller does that after the message
// is durable (record a vacation answer or a duplicate mark only for a delivery that happened).
//
// Failure is never loss: every Outcome holds a usable action list. A script that does not compile
// or fails at run time (a runtime error, a limit) yields an Outcome whose `error` says why and
// whose actions are the implicit keep alone. Errors are values; nothing here throws for a bad
// script or message.
//
// A compiled Script is immutable and may be shared between threads; evaluate() keeps all its state
// on the stack, so several evaluations may run at once on one Script.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.h"

namespace cubby::sieve {

// Bounds on what a script may cost. Each is checked at the named stage; exceeding one is a compile
// error (size, nesting) or a runtime error (the others), so the message gets the implicit keep.
struct Limits {
  size_t max_script_bytes = 32 * 1024;  // compile: Cyrus's sieve_maxscriptsize default (32 KB)
  int max_nesting = 32;                 // compile: nested blocks and tests
  int max_actions = 32;                 // run: actions in the result (Pigeonhole's default)
  int max_redirects = 5;                // run: redirect actions in one result
  int max_include_depth = 5;            // run: nested includes (RFC 6609)
  size_t max_variable_bytes = 4096;     // run: a variable's value is truncated to this (RFC 5229)
  int max_variables = 256;              // run: distinct variables per script
  std::chrono::milliseconds max_time{2000};  // run: wall-clock time of one evaluation
  // vacation: the period between two answers to one sender, clamped to [min, max] (Cyrus's
  // sieve_vacation_min_response / max_response defaults); `:days` absent means the default.
  std::chrono::seconds vacation_min_period{3 * 86400};
  std::chrono::seconds vacation_max_period{90 * 86400};
  std::chrono::seconds vacation_default_period{7 * 86400};
  std::chrono::seconds duplicate_default_period{14 * 86400};  // duplicate without :seconds
};

// Why a script gave no result of its own. `message` reads "line N: what is wrong" whenever the
// problem has a line.
struct Error {
  enum class Kind { kCompile, kRuntime };
  Kind kind;
  std::string message;
};

// One thing delivery must do. Which fields mean something depends on `kind` (listed per kind).
struct Action {
  enum class Kind { kKeep, kFileInto, kRedirect, kReject, kEreject, kDiscard, kVacation };
  Kind kind;
  std::string mailbox;             // kFileInto: '/'-separated name, as the script wrote it
  std::vector<std::string> flags;  // kKeep, kFileInto: IMAP flags to store (imap4flags)
  bool copy = false;               // kFileInto, kRedirect: `:copy` (did not cancel implicit keep)
  bool create = false;             // kFileInto: `:create` (RFC 5490)
  std::string address;             // kRedirect: where to; kVacation: the answer's recipient
  std::string reason;              // kReject, kEreject: text for the 550; kVacation: the body
  // kVacation only. `sent` is false when RFC 5230/3834 hold the answer back (`why_not` says which
  // rule); a sent answer must be recorded by the caller under (address, handle) for `period`.
  bool sent = false;
  std::string why_not;
  std::string from;     // the From: of the answer ("" = the recipient's own address)
  std::string subject;  // the Subject: of the answer
  bool mime = false;    // `reason` is a MIME entity (headers + body), not plain text
  std::string handle;   // RFC 5230 :handle, or one made from the arguments
  std::chrono::seconds period{0};
  bool implicit = false;  // kKeep: this is the implicit keep
};

// A duplicate-tracking mark (RFC 7352) the caller records once the message is delivered.
struct DuplicateMark {
  std::string key;  // handle and unique id, joined; opaque to the caller
  std::chrono::seconds period{0};
};

// What evaluating a script decided.
struct Outcome {
  std::vector<Action> actions;  // never empty unless the script discarded/rejected
  std::optional<Error> error;   // set: actions are the implicit keep alone
  std::vector<DuplicateMark> duplicates;
};

// The SMTP envelope of the delivery being filtered.
struct Envelope {
  std::string from;  // MAIL FROM, without <> ("" for the null sender)
  std::string to;    // this recipient's RCPT TO address, with its +detail if any
  // The user's own addresses for vacation (RFC 5230 4.5); `to` (and `to` without its detail)
  // always count, these are added to them (with the script's :addresses).
  std::vector<std::string> user_addresses;
};

// Where an included script is looked up (RFC 6609).
enum class ScriptLocation { kPersonal, kGlobal };

// What the script may ask of the world. The caller implements it; MemoryEnvironment
// (memory_environment.h) is a plain in-memory one for tests and `cubbyctl sieve test`.
class Environment {
 public:
  virtual ~Environment() = default;
  // Does the mailbox (a '/'-separated name, "INBOX" for the user's own) exist? (RFC 5490)
  virtual bool mailbox_exists(std::string_view mailbox) = 0;
  // Was `key` marked within the last `period`? (RFC 7352; marks come back in Outcome::duplicates)
  virtual bool duplicate_seen(std::string_view key, std::chrono::seconds period) = 0;
  // Was a vacation answer with `handle` sent to `address` within the last `period`? (RFC 5230)
  virtual bool vacation_sent(std::string_view address, std::string_view handle,
                             std::chrono::seconds period) = 0;
  // The source of the script `name` at `where`, or nullopt when there is none (RFC 6609).
  virtual std::optional<std::string> script_source(std::string_view name, ScriptLocation where) = 0;
  // The time the script runs at (currentdate, RFC 5260) and the zone it is in, as minutes east of
  // UTC (the zone of `date` without :zone).
  virtual std::chrono::system_clock::time_point now() = 0;
  virtual int zone_offset_minutes() { return 0; }
};

struct ScriptTree;  // the parsed and checked script (ast.h)
class Message;      // a message's parsed header and MIME parts (message.h)

// A compiled script: immutable, shareable.
class Script {
 public:
  explicit Script(std::shared_ptr<const ScriptTree> tree) : tree_(std::move(tree)) {}
  const ScriptTree& tree() const { return *tree_; }
  // True when the script's Outcome cannot depend on the recipient: it reads nothing of the
  // envelope but its sender (no `envelope` test of "to" or of a name built at run time), takes no
  // `vacation` (the user's addresses and history), no `duplicate` (the user's history), no
  // `mailboxexists` (the user's mailboxes) and no `include` (the user's personal scripts). Then
  // one evaluation per message gives every recipient whose script has the same source the same
  // Outcome, given the same MAIL FROM, limits, clock and zone (what delivery shares:
  // server/lmtpd/sieve_delivery.h). Computed once, at compile().
  bool recipient_independent() const;

 private:
  std::shared_ptr<const ScriptTree> tree_;
};

// Parse and check a script (and work out Script::recipient_independent): syntax, known commands and arguments, `require` of every extension
// used, limits. Errors read "line N: what is wrong"; an unsupported `require` names the extension.
Result<Script, Error> compile(std::string_view source, const Limits& limits = {});

// Run `script` over a message (its RFC 5322 bytes, CRLF or LF line ends) for one recipient.
Outcome evaluate(const Script& script, std::string_view message, const Envelope& envelope,
                 Environment& environment, const Limits& limits = {});
// The same over a message parsed once (message.h) for all its recipients: a message with ten
// recipients is parsed once, not ten times. Not for two threads at once (a Message caches its MIME
// parts on first use).
Outcome evaluate(const Script& script, const Message& message, const Envelope& envelope,
                 Environment& environment, const Limits& limits = {});

// compile() then evaluate(); a compile error gives an Outcome with the implicit keep and the error.
Outcome run(std::string_view source, std::string_view message, const Envelope& envelope,
            Environment& environment, const Limits& limits = {});

// The capabilities `require` accepts and `ihave` answers true for, in a stable order.
const std::vector<std::string_view>& supported_extensions();
// Whether `ihave` (RFC 5463) answers true for `capability` in a script that required `required`:
// supported, and not one of "variables"/"encoded-character" unless already required (they change
// how every string is read, so a block cannot switch them on; Cyrus refuses them too).
bool ihave(std::string_view capability, const std::vector<std::string>& required);
// Extensions Cyrus supports that this library does not (a `require` of one fails with a message
// saying so).
const std::vector<std::string_view>& unsupported_cyrus_extensions();

// One object: {"actions":[...]} or {"error":"compile"|"runtime","message":...} (docs/sieve.md).
std::string to_json(const Outcome& outcome);
// One line per action, for people (`cubbyctl sieve test` without --json).
std::string to_text(const Outcome& outcome);

}  // namespace cubby::sieve
