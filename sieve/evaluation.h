// One evaluation of a Sieve script over one message (internal to sieve/; the contract is in
// sieve.h): the interpreter's state while it walks a checked ScriptTree (the actions so far, the
// implicit keep, imap4flags' internal variable, match and global variables, includes) and the
// rules that apply as actions are added (RFC 5228's implicit keep, RFC 5429's conflicts, the
// limits). Commands are in evaluation.cc, tests in evaluation_tests.cc.
//
// Errors travel as values: a step that fails records the first error (fail_at) and returns
// Flow::kError or nullopt; run() then answers with the implicit keep alone.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sieve/ast.h"
#include "sieve/message.h"
#include "sieve/sieve.h"

namespace cubby::sieve {

Action action_of(Action::Kind kind);
std::string ascii_lower(std::string_view s);
// Flags are kept as a list without duplicates (compared without case), in the order first set;
// each string may hold several flags separated by spaces (RFC 5232 3).
void add_flags(std::vector<std::string>& into, const std::vector<std::string>& strings);
void remove_flags(std::vector<std::string>& from, const std::vector<std::string>& strings);
std::string join_flags(const std::vector<std::string>& flags);
// keep, or fileinto "INBOX" (any case): the actions that store into the user's INBOX.
bool stores_in_inbox(const Action& a);
// The same mailbox: the domain compares without case, the local part exactly (RFC 5321 2.4).
bool same_address(const std::string& a, const std::string& b);

// One running script: the top one or an included one, with its own variables (RFC 6609 3.4).
struct Frame {
  const ScriptTree* tree;
  std::map<std::string, std::string> locals;
  std::set<std::string> globals;  // names declared `global` here
};

enum class Flow { kNext, kStop, kReturn, kError };

class Evaluation {
 public:
  using Clock = std::chrono::steady_clock;

  // `message`, `envelope`, `env` and `limits` must outlive the Evaluation.
  Evaluation(const Message& message, const Envelope& envelope, Environment& env,
             const Limits& limits)
      : message_(message),
        envelope_(envelope),
        env_(env),
        limits_(limits),
        deadline_(Clock::now() + limits.max_time) {}

  // Runs `tree` (once per Evaluation).
  Outcome run(const ScriptTree& tree);

 private:
  static Action implicit_keep(std::vector<std::string> flags);
  Flow fail_at(const Node& node, const std::string& what);

  // Strings and variables (evaluation.cc).
  std::optional<std::string> lookup(Frame& f, const std::string& name);
  std::string expand(Frame& f, const std::string& s);
  std::vector<std::string> expand(Frame& f, const std::vector<std::string>& list);
  std::string string_arg(Frame& f, const Argument& a);
  bool assign(Frame& f, const Node& node, std::string name, std::string value);

  // Commands (evaluation.cc).
  Flow block(Frame& f, const std::vector<Node>& commands);
  Flow command(Frame& f, const Node& node);
  Flow add(const Node& node, Action a);
  Flow vacation(Frame& f, const Node& node);
  Flow include(Frame& f, const Node& node);

  // Tests (evaluation_tests.cc): true/false, or nullopt after fail_at.
  std::optional<bool> compare(Frame& f, const Node& node, const std::vector<std::string>& values,
                              const std::vector<std::string>& raw_keys);
  std::optional<bool> test(Frame& f, const Node& node);
  std::optional<bool> body(Frame& f, const Node& node);
  std::optional<bool> date(Frame& f, const Node& node);
  std::optional<bool> duplicate(Frame& f, const Node& node);

  const Message& message_;
  const Envelope& envelope_;
  Environment& env_;
  const Limits& limits_;
  const Clock::time_point deadline_;

  std::vector<Action> actions_;
  bool keep_implicitly_ = true;
  std::vector<std::string> flags_;    // imap4flags' internal variable
  std::vector<std::string> matches_;  // ${0}..${N} of the last successful :matches/:regex
  std::map<std::string, std::string> globals_;
  std::vector<DuplicateMark> duplicates_;
  int redirects_ = 0;
  std::optional<Error> error_;  // the first error; set once
  std::map<std::string, std::unique_ptr<ScriptTree>>
      compiled_;  // included scripts by location:name
  std::set<std::string> included_;
  std::vector<std::string> include_stack_;
};

}  // namespace cubby::sieve
