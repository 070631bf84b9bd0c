// The Sieve interpreter's commands and the public entry points; see evaluation.h and sieve.h.
#include "sieve/evaluation.h"

#include <strings.h>

#include <algorithm>
#include <cctype>

#include "sieve/address.h"
#include "sieve/parser.h"
#include "sieve/vacation.h"
#include "sieve/variables.h"

namespace cubby::sieve {

Action action_of(Action::Kind kind) {
  Action a;
  a.kind = kind;
  return a;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Flags are kept as a list without duplicates (compared without case), in the order first set.
void add_flags(std::vector<std::string>& into, const std::vector<std::string>& strings) {
  for (const auto& s : strings) {
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
      size_t j = i;
      while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\r' && s[j] != '\n') ++j;
      if (j > i) {
        const std::string flag = s.substr(i, j - i);
        if (std::none_of(into.begin(), into.end(), [&](const std::string& f) {
              return strcasecmp(f.c_str(), flag.c_str()) == 0;
            }))
          into.push_back(flag);
      }
      i = j;
    }
  }
}

void remove_flags(std::vector<std::string>& from, const std::vector<std::string>& strings) {
  std::vector<std::string> gone;
  add_flags(gone, strings);
  from.erase(std::remove_if(from.begin(), from.end(),
                            [&](const std::string& f) {
                              return std::any_of(gone.begin(), gone.end(),
                                                 [&](const std::string& g) {
                                                   return strcasecmp(f.c_str(), g.c_str()) == 0;
                                                 });
                            }),
             from.end());
}

// The same mailbox: the domain compares without case, the local part exactly (RFC 5321 2.4).
bool same_address(const std::string& a, const std::string& b) {
  const size_t at_a = a.rfind('@'), at_b = b.rfind('@');
  if (at_a != at_b || at_a == std::string::npos) return a == b;
  return a.compare(0, at_a, b, 0, at_b) == 0 && strcasecmp(a.c_str() + at_a, b.c_str() + at_b) == 0;
}

bool stores_in_inbox(const Action& a) {
  return a.kind == Action::Kind::kKeep ||
         (a.kind == Action::Kind::kFileInto && strcasecmp(a.mailbox.c_str(), "INBOX") == 0);
}

std::string join_flags(const std::vector<std::string>& flags) {
  std::string out;
  for (const auto& f : flags) {
    if (!out.empty()) out += ' ';
    out += f;
  }
  return out;
}

Outcome Evaluation::run(const ScriptTree& tree) {
  Frame frame{&tree, {}, {}};
  const Flow flow = block(frame, tree.commands);
  Outcome out;
  if (flow == Flow::kError) {
    out.error = error_;
    out.actions.push_back(implicit_keep({}));
    return out;
  }
  out.actions = std::move(actions_);
  if (keep_implicitly_) {
    auto inbox = std::find_if(out.actions.begin(), out.actions.end(), stores_in_inbox);
    if (inbox != out.actions.end()) {
      // A fileinto :copy "INBOX" already stores it there; its flags stay.
      inbox->implicit = false;
    } else {
      out.actions.push_back(implicit_keep(flags_));
    }
  }
  out.duplicates = std::move(duplicates_);
  return out;
}

Action Evaluation::implicit_keep(std::vector<std::string> flags) {
  Action a = action_of(Action::Kind::kKeep);
  a.flags = std::move(flags);
  a.implicit = true;
  return a;
}

Flow Evaluation::fail_at(const Node& node, const std::string& what) {
  if (!error_)
    error_ = Error{Error::Kind::kRuntime, "line " + std::to_string(node.line) + ": " + what};
  return Flow::kError;
}

std::optional<std::string> Evaluation::lookup(Frame& f, const std::string& name) {
  if (!f.tree->variables && !f.globals.size()) return std::nullopt;
  if (!name.empty() && std::isdigit(static_cast<unsigned char>(name[0]))) {
    const size_t n = static_cast<size_t>(std::stoul(name.size() > 3 ? "99" : name));
    if (n < matches_.size()) return matches_[n];
    return std::string();
  }
  if (name.rfind("global.", 0) == 0) {
    auto it = globals_.find(name.substr(7));
    return it == globals_.end() ? std::string() : it->second;
  }
  if (f.globals.count(name)) {
    auto it = globals_.find(name);
    return it == globals_.end() ? std::string() : it->second;
  }
  auto it = f.locals.find(name);
  return it == f.locals.end() ? std::string() : it->second;
}

std::string Evaluation::expand(Frame& f, const std::string& s) {
  if (!f.tree->variables) return s;
  return expand_variables(s, [&](const std::string& n) { return lookup(f, n); });
}

std::vector<std::string> Evaluation::expand(Frame& f, const std::vector<std::string>& list) {
  std::vector<std::string> out;
  out.reserve(list.size());
  for (const auto& s : list) out.push_back(expand(f, s));
  return out;
}

std::string Evaluation::string_arg(Frame& f, const Argument& a) {
  return expand(f, a.strings.at(0));
}

bool Evaluation::assign(Frame& f, const Node& node, std::string name, std::string value) {
  name = ascii_lower(name);
  truncate_utf8(value, limits_.max_variable_bytes);
  std::map<std::string, std::string>* store = &f.locals;
  if (name.rfind("global.", 0) == 0) {
    name = name.substr(7);
    store = &globals_;
  } else if (f.globals.count(name)) {
    store = &globals_;
  }
  if (!store->count(name) && static_cast<int>(store->size()) >= limits_.max_variables) {
    fail_at(node, "more than " + std::to_string(limits_.max_variables) + " variables");
    return false;
  }
  (*store)[name] = std::move(value);
  return true;
}

Flow Evaluation::block(Frame& f, const std::vector<Node>& commands) {
  bool previous_taken = false;  // whether the if/elsif chain before this node ran a branch
  for (const Node& node : commands) {
    if (Clock::now() > deadline_) return fail_at(node, "time limit exceeded");
    if (node.name == "require") continue;
    Flow flow = Flow::kNext;
    if (node.name == "if" || node.name == "elsif" || node.name == "else") {
      if (node.name != "if" && previous_taken) continue;
      bool taken = true;
      if (node.name != "else") {
        auto t = test(f, node.tests[0]);
        if (!t) return Flow::kError;
        taken = *t;
      }
      previous_taken = taken;
      if (taken && !node.skipped) flow = block(f, node.block);
    } else {
      flow = command(f, node);
    }
    if (flow != Flow::kNext) return flow;
  }
  return Flow::kNext;
}

Flow Evaluation::command(Frame& f, const Node& node) {
  const std::string& n = node.name;
  if (n == "stop") return Flow::kStop;
  if (n == "return") return Flow::kReturn;
  if (n == "keep") {
    std::vector<std::string> flags;
    if (const Argument* a = node.tag(":flags"))
      add_flags(flags, expand(f, a->strings));
    else
      flags = flags_;
    keep_implicitly_ = false;
    Action a = action_of(Action::Kind::kKeep);
    a.flags = std::move(flags);
    return add(node, std::move(a));
  }
  if (n == "discard") {
    keep_implicitly_ = false;
    return add(node, action_of(Action::Kind::kDiscard));
  }
  if (n == "fileinto") {
    Action a = action_of(Action::Kind::kFileInto);
    a.mailbox = string_arg(f, node.positional[0]);
    if (a.mailbox.empty()) return fail_at(node, "fileinto needs a mailbox name");
    if (const Argument* fl = node.tag(":flags"))
      add_flags(a.flags, expand(f, fl->strings));
    else
      a.flags = flags_;
    a.copy = node.has(":copy");
    a.create = node.has(":create");
    if (!a.copy) keep_implicitly_ = false;
    return add(node, std::move(a));
  }
  if (n == "redirect") {
    Action a = action_of(Action::Kind::kRedirect);
    a.address = string_arg(f, node.positional[0]);
    const auto parsed = parse_address_list(a.address);
    if (parsed.size() != 1 || parsed[0].find('@') == std::string::npos ||
        parsed[0].front() == '@' || parsed[0].back() == '@')
      return fail_at(node, "redirect to an invalid address \"" + a.address + "\"");
    a.address = parsed[0];
    a.copy = node.has(":copy");
    if (!a.copy) keep_implicitly_ = false;
    return add(node, std::move(a));
  }
  if (n == "reject" || n == "ereject") {
    Action a = action_of(n == "reject" ? Action::Kind::kReject : Action::Kind::kEreject);
    a.reason = string_arg(f, node.positional[0]);
    keep_implicitly_ = false;
    return add(node, std::move(a));
  }
  if (n == "setflag" || n == "addflag" || n == "removeflag") {
    const bool named = node.positional[0].line != -1;
    std::vector<std::string> list = expand(f, node.positional[1].strings);
    if (!named) {
      if (n == "setflag") flags_.clear();
      if (n == "removeflag")
        remove_flags(flags_, list);
      else
        add_flags(flags_, list);
      return Flow::kNext;
    }
    const std::string var = string_arg(f, node.positional[0]);
    std::vector<std::string> current;
    if (n != "setflag") add_flags(current, {lookup(f, ascii_lower(var)).value_or("")});
    if (n == "removeflag")
      remove_flags(current, list);
    else
      add_flags(current, list);
    return assign(f, node, var, join_flags(current)) ? Flow::kNext : Flow::kError;
  }
  if (n == "set") {
    std::string value = apply_modifiers(node, string_arg(f, node.positional[1]));
    return assign(f, node, node.positional[0].strings[0], std::move(value)) ? Flow::kNext
                                                                            : Flow::kError;
  }
  if (n == "global") {
    for (const auto& name : node.positional[0].strings) f.globals.insert(ascii_lower(name));
    return Flow::kNext;
  }
  if (n == "vacation") return vacation(f, node);
  if (n == "include") return include(f, node);
  if (n == "error") return fail_at(node, "error: " + string_arg(f, node.positional[0]));
  return fail_at(node, "command '" + n + "' cannot run here");
}

// Adds an action, folding duplicates and enforcing the conflicts and limits.
Flow Evaluation::add(const Node& node, Action a) {
  const bool rejecting = a.kind == Action::Kind::kReject || a.kind == Action::Kind::kEreject;
  const bool delivers = a.kind == Action::Kind::kKeep || a.kind == Action::Kind::kFileInto ||
                        a.kind == Action::Kind::kRedirect;
  for (Action& old : actions_) {
    const bool old_rejects =
        old.kind == Action::Kind::kReject || old.kind == Action::Kind::kEreject;
    // RFC 5429 2.1: reject/ereject cannot be combined with actions that deliver the message or
    // that answer the sender.
    if ((rejecting &&
         (old_rejects || old.kind == Action::Kind::kKeep || old.kind == Action::Kind::kFileInto ||
          old.kind == Action::Kind::kRedirect || old.kind == Action::Kind::kVacation)) ||
        (old_rejects && (delivers || a.kind == Action::Kind::kVacation)))
      return fail_at(node,
                     "reject/ereject cannot be combined with keep, fileinto, redirect or vacation");
    // keep and fileinto "INBOX" store into the same mailbox: one delivery (RFC 5228 2.10.3).
    // As in Pigeonhole, the later of two stores into one mailbox sets the flags.
    if (stores_in_inbox(old) && stores_in_inbox(a)) {
      old.flags = std::move(a.flags);
      old.copy = old.copy && a.copy;
      old.create = old.create || a.create;
      return Flow::kNext;
    }
    if (old.kind != a.kind) continue;
    switch (a.kind) {
      case Action::Kind::kKeep:
      case Action::Kind::kDiscard:
        return Flow::kNext;  // kept as stores_in_inbox above; discard has nothing to merge
      case Action::Kind::kFileInto:
        if (old.mailbox == a.mailbox) {
          old.flags = std::move(a.flags);
          old.copy = old.copy && a.copy;
          old.create = old.create || a.create;
          return Flow::kNext;
        }
        break;
      case Action::Kind::kRedirect:
        if (same_address(old.address, a.address)) {
          old.copy = old.copy && a.copy;
          return Flow::kNext;
        }
        break;
      case Action::Kind::kVacation:
        return fail_at(node, "only one vacation per script run");
      default:
        break;
    }
  }
  if (a.kind == Action::Kind::kRedirect && ++redirects_ > limits_.max_redirects)
    return fail_at(node, "more than " + std::to_string(limits_.max_redirects) + " redirects");
  if (static_cast<int>(actions_.size()) >= limits_.max_actions)
    return fail_at(node, "more than " + std::to_string(limits_.max_actions) + " actions");
  actions_.push_back(std::move(a));
  return Flow::kNext;
}

Flow Evaluation::vacation(Frame& f, const Node& node) {
  Action a = action_of(Action::Kind::kVacation);
  a.reason = string_arg(f, node.positional[0]);
  a.mime = node.has(":mime");
  if (const Argument* s = node.tag(":subject")) a.subject = string_arg(f, *s);
  if (a.subject.empty()) {
    auto subjects = message_.decoded_values("Subject");
    a.subject = "Auto: " + (subjects.empty() ? std::string() : subjects[0]);
  }
  if (const Argument* s = node.tag(":from")) a.from = string_arg(f, *s);
  std::chrono::seconds period = limits_.vacation_default_period;
  if (const Argument* d = node.tag(":days"))
    period = std::chrono::seconds(std::min<uint64_t>(d->number, 100000) * 86400);
  if (const Argument* d = node.tag(":seconds"))
    period = std::chrono::seconds(std::min<uint64_t>(d->number, 100000ull * 86400));
  a.period = std::clamp(period, limits_.vacation_min_period, limits_.vacation_max_period);
  if (const Argument* h = node.tag(":handle")) {
    a.handle = string_arg(f, *h);
  } else {
    // RFC 5230 4.2: without :handle, answers differing in their arguments are different.
    a.handle = a.reason + "\n" + (node.has(":subject") ? a.subject : "") + "\n" + a.from +
               (a.mime ? "\nmime" : "");
  }
  a.address = envelope_.from;
  std::vector<std::string> mine = {envelope_.to};
  if (auto user = address_part(envelope_.to, AddressPart::kUser)) {
    if (auto domain = address_part(envelope_.to, AddressPart::kDomain); domain && !domain->empty())
      mine.push_back(*user + "@" + *domain);
  }
  mine.insert(mine.end(), envelope_.user_addresses.begin(), envelope_.user_addresses.end());
  if (const Argument* ad = node.tag(":addresses")) {
    for (const auto& s : expand(f, ad->strings))
      for (const auto& x : parse_address_list(s)) mine.push_back(x);
  }
  if (!a.from.empty()) {
    for (const auto& x : parse_address_list(a.from)) mine.push_back(x);
  }
  a.why_not = vacation_blocked(message_, envelope_, mine);
  if (a.why_not.empty() && env_.vacation_sent(a.address, a.handle, a.period))
    a.why_not = "an answer was already sent to this sender within the period";
  a.sent = a.why_not.empty();
  return add(node, std::move(a));
}

Flow Evaluation::include(Frame& f, const Node& node) {
  const std::string name = string_arg(f, node.positional[0]);
  const ScriptLocation where =
      node.has(":global") ? ScriptLocation::kGlobal : ScriptLocation::kPersonal;
  const std::string key =
      std::string(where == ScriptLocation::kGlobal ? "global:" : "personal:") + name;
  if (node.has(":once") && included_.count(key)) return Flow::kNext;
  if (std::find(include_stack_.begin(), include_stack_.end(), key) != include_stack_.end())
    return fail_at(node, "include of \"" + name + "\" loops back to itself");
  if (static_cast<int>(include_stack_.size()) >= limits_.max_include_depth)
    return fail_at(node,
                   "includes nested deeper than " + std::to_string(limits_.max_include_depth));
  auto it = compiled_.find(key);
  if (it == compiled_.end()) {
    auto source = env_.script_source(name, where);
    if (!source) {
      if (node.has(":optional")) return Flow::kNext;
      return fail_at(node, "included script \"" + name + "\" not found");
    }
    auto tree = parse(*source, limits_);
    if (!tree.ok())
      return fail_at(node, "included script \"" + name + "\": " + tree.error().message);
    if (auto e = check(tree.value()))
      return fail_at(node, "included script \"" + name + "\": " + e->message);
    it = compiled_.emplace(key, std::make_unique<ScriptTree>(std::move(tree.value()))).first;
  }
  included_.insert(key);
  include_stack_.push_back(key);
  Frame inner{it->second.get(), {}, {}};
  const Flow flow = block(inner, inner.tree->commands);
  include_stack_.pop_back();
  if (flow == Flow::kReturn) return Flow::kNext;
  return flow;
}

Result<Script, Error> compile(std::string_view source, const Limits& limits) {
  auto tree = parse(source, limits);
  if (!tree.ok()) return fail(tree.error());
  if (auto e = check(tree.value())) return fail(*e);
  tree.value().recipient_independent = !depends_on_recipient(tree.value());
  return Script(std::make_shared<const ScriptTree>(std::move(tree.value())));
}

Outcome evaluate(const Script& script, std::string_view message, const Envelope& envelope,
                 Environment& environment, const Limits& limits) {
  const Message parsed(message);
  return evaluate(script, parsed, envelope, environment, limits);
}

Outcome evaluate(const Script& script, const Message& message, const Envelope& envelope,
                 Environment& environment, const Limits& limits) {
  return Evaluation(message, envelope, environment, limits).run(script.tree());
}

Outcome run(std::string_view source, std::string_view message, const Envelope& envelope,
            Environment& environment, const Limits& limits) {
  auto script = compile(source, limits);
  if (!script.ok()) {
    Outcome out;
    out.error = script.error();
    Action keep = action_of(Action::Kind::kKeep);
    keep.implicit = true;
    out.actions.push_back(std::move(keep));
    return out;
  }
  return evaluate(script.value(), message, envelope, environment, limits);
}

}  // namespace cubby::sieve
