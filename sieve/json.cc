// The two renderings of an Outcome: one JSON object (the shape `cubbyctl sieve test --json`
// prints, docs/sieve.md) and one line per action for people. A small writer of our own: the
// project has no JSON library, and this output needs only strings, booleans and arrays.
#include <cstdio>

#include "conf/json.h"
#include "sieve/sieve.h"

namespace cubby::sieve {
namespace {


std::string flag_array(const std::vector<std::string>& flags) {
  std::string out = "[";
  for (size_t i = 0; i < flags.size(); ++i) out += (i ? "," : "") + conf::json_string(flags[i]);
  return out + "]";
}

const char* bool_text(bool b) { return b ? "true" : "false"; }

std::string action_json(const Action& a) {
  switch (a.kind) {
    case Action::Kind::kKeep:
      return "{\"action\":\"keep\",\"flags\":" + flag_array(a.flags) + "}";
    case Action::Kind::kFileInto:
      return "{\"action\":\"fileinto\",\"mailbox\":" + conf::json_string(a.mailbox) +
             ",\"flags\":" + flag_array(a.flags) + ",\"copy\":" + bool_text(a.copy) +
             ",\"create\":" + bool_text(a.create) + "}";
    case Action::Kind::kRedirect:
      return "{\"action\":\"redirect\",\"address\":" + conf::json_string(a.address) +
             ",\"copy\":" + bool_text(a.copy) + "}";
    case Action::Kind::kReject:
    case Action::Kind::kEreject:
      return std::string("{\"action\":\"") +
             (a.kind == Action::Kind::kReject ? "reject" : "ereject") +
             "\",\"reason\":" + conf::json_string(a.reason) + "}";
    case Action::Kind::kDiscard:
      return "{\"action\":\"discard\"}";
    case Action::Kind::kVacation:
      return std::string("{\"action\":\"vacation\",\"sent\":") + bool_text(a.sent) +
             ",\"to\":" + conf::json_string(a.address) + ",\"from\":" + conf::json_string(a.from) +
             ",\"subject\":" + conf::json_string(a.subject) + ",\"reason\":" + conf::json_string(a.reason) +
             ",\"mime\":" + bool_text(a.mime) + "}";
  }
  return "{}";
}

}  // namespace

std::string to_json(const Outcome& outcome) {
  if (outcome.error) {
    return std::string("{\"error\":\"") +
           (outcome.error->kind == Error::Kind::kCompile ? "compile" : "runtime") +
           "\",\"message\":" + conf::json_string(outcome.error->message) + "}";
  }
  std::string out = "{\"actions\":[";
  for (size_t i = 0; i < outcome.actions.size(); ++i) {
    if (i) out += ',';
    out += action_json(outcome.actions[i]);
  }
  return out + "]}";
}

std::string to_text(const Outcome& outcome) {
  std::string out;
  if (outcome.error) {
    out += std::string(outcome.error->kind == Error::Kind::kCompile ? "compile error: "
                                                                    : "runtime error: ") +
           outcome.error->message + "\n";
  }
  auto flags = [](const std::vector<std::string>& f) {
    std::string s;
    for (const auto& x : f) s += (s.empty() ? " flags " : " ") + x;
    return s;
  };
  for (const Action& a : outcome.actions) {
    switch (a.kind) {
      case Action::Kind::kKeep:
        out += std::string(a.implicit ? "keep (implicit)" : "keep") + flags(a.flags) + "\n";
        break;
      case Action::Kind::kFileInto:
        out += "fileinto " + a.mailbox + flags(a.flags) + (a.copy ? " :copy" : "") +
               (a.create ? " :create" : "") + "\n";
        break;
      case Action::Kind::kRedirect:
        out += "redirect " + a.address + (a.copy ? " :copy" : "") + "\n";
        break;
      case Action::Kind::kReject:
      case Action::Kind::kEreject:
        out += std::string(a.kind == Action::Kind::kReject ? "reject " : "ereject ") +
               conf::json_string(a.reason) + "\n";
        break;
      case Action::Kind::kDiscard:
        out += "discard\n";
        break;
      case Action::Kind::kVacation:
        out += "vacation to " + (a.address.empty() ? std::string("<>") : a.address) +
               (a.sent ? " (sent)" : " (not sent: " + a.why_not + ")") + " subject " +
               conf::json_string(a.subject) + "\n";
        break;
    }
  }
  return out;
}

}  // namespace cubby::sieve
