// Helpers for the Sieve tests: run a script over a message and read the outcome as one short
// line ("fileinto Work [\Seen] | keep"), so each test states the expected actions plainly.
#pragma once

#include <string>

#include "sieve/memory_environment.h"
#include "sieve/sieve.h"

namespace cubby::sieve::sieve_test {

// A small message; tests that need other headers build their own.
inline const std::string kMessage =
    "Return-Path: <joe@example.org>\r\n"
    "From: Joe Example <joe@example.org>\r\n"
    "To: User <user@example.com>, other@example.net\r\n"
    "Cc: \"Friend, Good\" <friend@example.net>\r\n"
    "Subject: Lunch on Friday?\r\n"
    "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
    "Message-ID: <lunch-1@example.org>\r\n"
    "X-Spam-Score: 12\r\n"
    "\r\n"
    "Shall we meet at noon?\r\n";

inline std::string describe(const Action& a) {
  auto flags = [](const std::vector<std::string>& f) {
    if (f.empty()) return std::string();
    std::string s = " [";
    for (size_t i = 0; i < f.size(); ++i) s += (i ? " " : "") + f[i];
    return s + "]";
  };
  switch (a.kind) {
    case Action::Kind::kKeep:
      return "keep" + flags(a.flags);
    case Action::Kind::kFileInto:
      return "fileinto " + a.mailbox + flags(a.flags) + (a.copy ? " :copy" : "") +
             (a.create ? " :create" : "");
    case Action::Kind::kRedirect:
      return "redirect " + a.address + (a.copy ? " :copy" : "");
    case Action::Kind::kReject:
      return "reject " + a.reason;
    case Action::Kind::kEreject:
      return "ereject " + a.reason;
    case Action::Kind::kDiscard:
      return "discard";
    case Action::Kind::kVacation:
      return std::string("vacation ") + (a.sent ? "sent" : "held") + " to " + a.address;
  }
  return "?";
}

inline std::string summary(const Outcome& o) {
  if (o.error) {
    return std::string(o.error->kind == Error::Kind::kCompile ? "compile error: "
                                                              : "runtime error: ") +
           o.error->message;
  }
  std::string s;
  for (const auto& a : o.actions) s += (s.empty() ? "" : " | ") + describe(a);
  return s;
}

struct Harness {
  Envelope envelope{"joe@example.org", "user+lists@example.com", {}};
  MemoryEnvironment env;
  Limits limits;

  Outcome outcome(const std::string& script, const std::string& message = kMessage) {
    return run(script, message, envelope, env, limits);
  }
  std::string operator()(const std::string& script, const std::string& message = kMessage) {
    return summary(outcome(script, message));
  }
};

// The compile error of `script`, or "(compiles)".
inline std::string compile_error(const std::string& script, const Limits& limits = {}) {
  auto r = compile(script, limits);
  return r.ok() ? "(compiles)" : r.error().message;
}

}  // namespace cubby::sieve::sieve_test
