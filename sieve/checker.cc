// The Sieve checker: validates a parsed tree against the table of every command and test this
// implementation knows (one row each, with the extension it belongs to), sorts arguments into tags
// and positional ones, enforces `require`, and decodes encoded-character strings. See parser.h.
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "sieve/encoded_character.h"
#include "sieve/parser.h"

namespace cubby::sieve {
namespace {

// How a tag is written: alone, or followed by a number, a string or a string list.
enum class Value { kNone, kNumber, kString, kList };

struct TagSpec {
  const char* tag;
  Value value;
  const char* group;       // tags of one group exclude each other ("" = no group)
  const char* capability;  // needed for this tag ("" = core)
};

struct Spec {
  const char* name;
  bool is_test;
  const char* capability;  // "" = core
  std::vector<TagSpec> tags;
  const char* positional;  // one letter per argument: N number, S one string, L string list
  size_t min_positional;   // leading positional arguments may be left out down to this many
  int tests;               // 0 none, 1 one test, -1 a test list
  bool block;
};

const std::vector<TagSpec> kComparator = {{":comparator", Value::kString, "comparator", ""}};
const std::vector<TagSpec> kMatch = {
    {":is", Value::kNone, "match", ""},
    {":contains", Value::kNone, "match", ""},
    {":matches", Value::kNone, "match", ""},
    {":regex", Value::kNone, "match", "regex"},
    {":value", Value::kString, "match", "relational"},
    {":count", Value::kString, "match", "relational"},
};
const std::vector<TagSpec> kAddressPart = {
    {":all", Value::kNone, "address-part", ""},
    {":localpart", Value::kNone, "address-part", ""},
    {":domain", Value::kNone, "address-part", ""},
    {":user", Value::kNone, "address-part", "subaddress"},
    {":detail", Value::kNone, "address-part", "subaddress"},
};
const std::vector<TagSpec> kIndex = {{":index", Value::kNumber, "", "index"},
                                     {":last", Value::kNone, "", "index"}};

std::vector<TagSpec> join(std::initializer_list<std::vector<TagSpec>> parts) {
  std::vector<TagSpec> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

const std::vector<Spec>& table() {
  static const std::vector<Spec> specs = {
      // RFC 5228 control and action commands.
      {"require", false, "", {}, "L", 1, 0, false},
      {"if", false, "", {}, "", 0, 1, true},
      {"elsif", false, "", {}, "", 0, 1, true},
      {"else", false, "", {}, "", 0, 0, true},
      {"stop", false, "", {}, "", 0, 0, false},
      {"keep", false, "", {{":flags", Value::kList, "", "imap4flags"}}, "", 0, 0, false},
      {"discard", false, "", {}, "", 0, 0, false},
      {"redirect", false, "", {{":copy", Value::kNone, "", "copy"}}, "S", 1, 0, false},
      {"fileinto",
       false,
       "fileinto",
       {{":copy", Value::kNone, "", "copy"},
        {":flags", Value::kList, "", "imap4flags"},
        {":create", Value::kNone, "", "mailbox"}},
       "S",
       1,
       0,
       false},
      {"reject", false, "reject", {}, "S", 1, 0, false},
      {"ereject", false, "ereject", {}, "S", 1, 0, false},
      // RFC 5232 imap4flags.
      {"setflag", false, "imap4flags", {}, "SL", 1, 0, false},
      {"addflag", false, "imap4flags", {}, "SL", 1, 0, false},
      {"removeflag", false, "imap4flags", {}, "SL", 1, 0, false},
      // RFC 5229 variables.
      {"set",
       false,
       "variables",
       {{":lower", Value::kNone, "case", ""},
        {":upper", Value::kNone, "case", ""},
        {":lowerfirst", Value::kNone, "first", ""},
        {":upperfirst", Value::kNone, "first", ""},
        {":quotewildcard", Value::kNone, "quote", ""},
        {":quoteregex", Value::kNone, "quote", "regex"},
        {":length", Value::kNone, "length", ""}},
       "SS",
       2,
       0,
       false},
      // RFC 5230 vacation, RFC 6131 vacation-seconds.
      {"vacation",
       false,
       "vacation",
       {{":days", Value::kNumber, "period", ""},
        {":seconds", Value::kNumber, "period", "vacation-seconds"},
        {":subject", Value::kString, "", ""},
        {":from", Value::kString, "", ""},
        {":addresses", Value::kList, "", ""},
        {":mime", Value::kNone, "", ""},
        {":handle", Value::kString, "", ""}},
       "S",
       1,
       0,
       false},
      // RFC 6609 include.
      {"include",
       false,
       "include",
       {{":personal", Value::kNone, "location", ""},
        {":global", Value::kNone, "location", ""},
        {":once", Value::kNone, "", ""},
        {":optional", Value::kNone, "", ""}},
       "S",
       1,
       0,
       false},
      {"return", false, "include", {}, "", 0, 0, false},
      {"global", false, "include", {}, "L", 1, 0, false},
      // RFC 5463 ihave's error command.
      {"error", false, "ihave", {}, "S", 1, 0, false},

      // RFC 5228 tests.
      {"address", true, "", join({kComparator, kMatch, kAddressPart, kIndex}), "LL", 2, 0, false},
      {"envelope", true, "envelope", join({kComparator, kMatch, kAddressPart}), "LL", 2, 0, false},
      {"header", true, "", join({kComparator, kMatch, kIndex}), "LL", 2, 0, false},
      {"exists", true, "", {}, "L", 1, 0, false},
      {"size",
       true,
       "",
       {{":over", Value::kNone, "size", ""}, {":under", Value::kNone, "size", ""}},
       "N",
       1,
       0,
       false},
      {"allof", true, "", {}, "", 0, -1, false},
      {"anyof", true, "", {}, "", 0, -1, false},
      {"not", true, "", {}, "", 0, 1, false},
      {"true", true, "", {}, "", 0, 0, false},
      {"false", true, "", {}, "", 0, 0, false},
      // Extension tests.
      {"hasflag", true, "imap4flags", join({kComparator, kMatch}), "LL", 1, 0, false},
      {"string", true, "variables", join({kComparator, kMatch}), "LL", 2, 0, false},
      {"body", true, "body",
       join({kComparator,
             kMatch,
             {{":raw", Value::kNone, "transform", ""},
              {":text", Value::kNone, "transform", ""},
              {":content", Value::kList, "transform", ""}}}),
       "L", 1, 0, false},
      {"date", true, "date",
       join({kComparator,
             kMatch,
             kIndex,
             {{":zone", Value::kString, "zone", ""}, {":originalzone", Value::kNone, "zone", ""}}}),
       "SSL", 3, 0, false},
      {"currentdate", true, "date",
       join({kComparator, kMatch, {{":zone", Value::kString, "zone", ""}}}), "SL", 2, 0, false},
      {"duplicate",
       true,
       "duplicate",
       {{":handle", Value::kString, "", ""},
        {":header", Value::kString, "id", ""},
        {":uniqueid", Value::kString, "id", ""},
        {":seconds", Value::kNumber, "", ""},
        {":last", Value::kNone, "", ""}},
       "",
       0,
       0,
       false},
      {"mailboxexists", true, "mailbox", {}, "L", 1, 0, false},
      {"ihave", true, "ihave", {}, "L", 1, 0, false},
  };
  return specs;
}

const Spec* find_spec(const std::string& name, bool is_test) {
  for (const Spec& s : table())
    if (s.is_test == is_test && name == s.name) return &s;
  return nullptr;
}

bool supported(const std::string& capability) {
  for (auto c : supported_extensions())
    if (c == capability) return true;
  return false;
}

bool cyrus_only(const std::string& capability) {
  for (auto c : unsupported_cyrus_extensions())
    if (c == capability) return true;
  return false;
}

bool valid_variable_name(const std::string& name) {
  if (name.empty()) return false;
  if (!std::isalpha(static_cast<unsigned char>(name[0])) && name[0] != '_') return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

class Checker {
 public:
  explicit Checker(ScriptTree& tree) : tree_(tree) {}

  std::optional<Error> run() {
    bool require_allowed = true;
    for (size_t i = 0; i < tree_.commands.size(); ++i) {
      Node& node = tree_.commands[i];
      if (node.name == "require") {
        if (!require_allowed) return error(node, "require must come before any other command");
        if (auto e = arguments(node, *find_spec("require", false))) return e;
        for (auto& cap : node.positional[0].strings) {
          if (auto e = require(node, cap)) return e;
        }
        continue;
      }
      require_allowed = false;
    }
    tree_.variables = tree_.required.count("variables") != 0;
    return commands(tree_.commands, tree_.required);
  }

 private:
  static Error error(const Node& node, const std::string& what) {
    return Error{Error::Kind::kCompile, "line " + std::to_string(node.line) + ": " + what};
  }
  static Error error(const Argument& arg, const std::string& what) {
    return Error{Error::Kind::kCompile, "line " + std::to_string(arg.line) + ": " + what};
  }

  std::optional<Error> require(const Node& node, const std::string& cap) {
    if (supported(cap)) {
      tree_.required.insert(cap);
      return std::nullopt;
    }
    if (cyrus_only(cap))
      return error(node, "the Sieve extension \"" + cap +
                             "\" is not supported here (Cyrus has it; see docs/sieve.md)");
    return error(node, "unknown Sieve extension \"" + cap + "\" in require");
  }

  std::optional<Error> commands(std::vector<Node>& nodes, const std::set<std::string>& caps) {
    const Node* previous = nullptr;
    for (Node& node : nodes) {
      if (node.name == "require") {
        if (&nodes != &tree_.commands || previous != nullptr)
          return error(node, "require must come before any other command");
        continue;  // checked in run()
      }
      if ((node.name == "elsif" || node.name == "else") &&
          (previous == nullptr || (previous->name != "if" && previous->name != "elsif")))
        return error(node, node.name + " without a preceding if");
      if (auto e = command(node, caps)) return e;
      previous = &node;
    }
    return std::nullopt;
  }

  std::optional<Error> command(Node& node, const std::set<std::string>& caps) {
    const Spec* spec = find_spec(node.name, false);
    if (spec == nullptr) {
      if (find_spec(node.name, true) != nullptr)
        return error(node, "'" + node.name + "' is a test, not a command");
      return error(node, "unknown command '" + node.name + "'");
    }
    if (auto e = capability(node, spec->capability, caps, "the command '" + node.name + "'"))
      return e;
    if (auto e = arguments(node, *spec, caps)) return e;
    if (spec->block && !node.has_block) return error(node, node.name + " needs a block { ... }");
    if (!spec->block && node.has_block)
      return error(node, "'" + node.name + "' takes no block (missing ';'?)");
    if (auto e = tests(node, *spec, caps)) return e;
    if (auto e = semantics(node)) return e;
    if (node.has_block) {
      // ihave (RFC 5463): a block guarded by ihave of capabilities we have may use them; a block
      // guarded by ihave of one we lack is never run, so it is not checked at all.
      std::set<std::string> inner = caps;
      if (!node.tests.empty() && node.tests[0].name == "ihave" &&
          node.tests[0].positional.size() == 1) {
        bool all = true;
        const std::vector<std::string> required(tree_.required.begin(), tree_.required.end());
        for (const auto& c : node.tests[0].positional[0].strings) {
          if (ihave(c, required)) {
            inner.insert(c);
          } else {
            all = false;
          }
        }
        if (!all) {
          node.skipped = true;
          return std::nullopt;
        }
      }
      return commands(node.block, inner);
    }
    return std::nullopt;
  }

  std::optional<Error> test(Node& node, const std::set<std::string>& caps) {
    const Spec* spec = find_spec(node.name, true);
    if (spec == nullptr) {
      if (find_spec(node.name, false) != nullptr)
        return error(node, "'" + node.name + "' is a command, not a test");
      return error(node, "unknown test '" + node.name + "'");
    }
    if (auto e = capability(node, spec->capability, caps, "the test '" + node.name + "'")) return e;
    if (auto e = arguments(node, *spec, caps)) return e;
    if (auto e = tests(node, *spec, caps)) return e;
    return semantics(node);
  }

  std::optional<Error> tests(Node& node, const Spec& spec, const std::set<std::string>& caps) {
    if (spec.tests == 0 && !node.tests.empty())
      return error(node, "'" + node.name + "' takes no test");
    if (spec.tests == 1 && (node.tests.size() != 1 || node.test_list))
      return error(node, "'" + node.name + "' needs exactly one test");
    if (spec.tests == -1 && !node.test_list)
      return error(node, "'" + node.name + "' needs a test list ( ... )");
    for (Node& t : node.tests)
      if (auto e = test(t, caps)) return e;
    return std::nullopt;
  }

  std::optional<Error> capability(const Node& node, const char* cap,
                                  const std::set<std::string>& caps, const std::string& what) {
    if (*cap == '\0' || caps.count(cap)) return std::nullopt;
    return error(node, what + " needs require \"" + cap + "\"");
  }

  // Sorts node.args into tags and positional arguments, checking each against the spec.
  std::optional<Error> arguments(Node& node, const Spec& spec,
                                 const std::set<std::string>& caps = {}) {
    node.tags.clear();
    node.positional.clear();
    std::map<std::string, std::string> groups;  // group -> the tag that took it
    size_t i = 0;
    for (; i < node.args.size() && node.args[i].kind == Argument::Kind::kTag; ++i) {
      const Argument& arg = node.args[i];
      const TagSpec* ts = nullptr;
      for (const TagSpec& t : spec.tags)
        if (arg.tag == t.tag) ts = &t;
      if (ts == nullptr) return error(arg, "unknown tag " + arg.tag + " for '" + node.name + "'");
      if (*ts->capability && !caps.count(ts->capability))
        return error(arg, "the tag " + arg.tag + " needs require \"" + ts->capability + "\"");
      if (node.tags.count(arg.tag)) return error(arg, "tag " + arg.tag + " given twice");
      if (*ts->group) {
        auto [it, fresh] = groups.emplace(ts->group, arg.tag);
        if (!fresh)
          return error(arg, "tags " + it->second + " and " + arg.tag + " exclude each other");
      }
      if (ts->value == Value::kNone) {
        node.tags[arg.tag] = arg;
        continue;
      }
      if (i + 1 >= node.args.size())
        return error(arg, "tag " + arg.tag + " needs a value after it");
      Argument value = node.args[++i];
      if (auto e = fits(node, value, ts->value, "the value of " + arg.tag)) return e;
      value.tag = arg.tag;
      node.tags[arg.tag] = std::move(value);
    }
    for (; i < node.args.size(); ++i) {
      if (node.args[i].kind == Argument::Kind::kTag)
        return error(node.args[i], "tag " + node.args[i].tag +
                                       " must come before the other arguments of '" + node.name +
                                       "'");
      node.positional.push_back(node.args[i]);
    }
    const size_t max = std::strlen(spec.positional);
    if (node.positional.size() < spec.min_positional || node.positional.size() > max) {
      return error(node, "'" + node.name + "' takes " +
                             (spec.min_positional == max ? std::to_string(max)
                                                         : std::to_string(spec.min_positional) +
                                                               " to " + std::to_string(max)) +
                             " positional argument" + (max == 1 ? "" : "s") + ", not " +
                             std::to_string(node.positional.size()));
    }
    // Optional arguments are the leading ones: match the given ones against the tail.
    const size_t skip = max - node.positional.size();
    for (size_t k = 0; k < node.positional.size(); ++k) {
      const char kind = spec.positional[skip + k];
      const Value v = kind == 'N' ? Value::kNumber : kind == 'S' ? Value::kString : Value::kList;
      if (auto e = fits(node, node.positional[k], v, "argument " + std::to_string(k + 1))) return e;
    }
    // Pad left-out leading arguments so positional[k] always means the same thing.
    if (skip > 0) {
      std::vector<Argument> padded(skip, Argument{Argument::Kind::kStrings, {}, 0, {}, false, 0});
      padded.front().line = -1;  // marks "not given"
      for (auto& p : padded) p.line = -1;
      padded.insert(padded.end(), node.positional.begin(), node.positional.end());
      node.positional = std::move(padded);
    }
    if (tree_.required.count("encoded-character")) decode_strings(node);
    return std::nullopt;
  }

  std::optional<Error> fits(const Node& node, const Argument& arg, Value want,
                            const std::string& what) {
    switch (want) {
      case Value::kNumber:
        if (arg.kind != Argument::Kind::kNumber)
          return error(arg, what + " of '" + node.name + "' must be a number");
        break;
      case Value::kString:
        if (arg.kind != Argument::Kind::kStrings || arg.strings.size() != 1)
          return error(arg, what + " of '" + node.name + "' must be one string");
        break;
      case Value::kList:
        if (arg.kind != Argument::Kind::kStrings)
          return error(arg, what + " of '" + node.name + "' must be a string or a string list");
        break;
      case Value::kNone:
        break;
    }
    return std::nullopt;
  }

  void decode_strings(Node& node) {
    auto decode = [&](Argument& a) {
      for (auto& s : a.strings) {
        auto d = decode_encoded_characters(s);
        if (d.ok()) {
          s = std::move(d.value());
        } else {
          pending_ = error(a, d.error());
        }
      }
    };
    for (auto& [tag, a] : node.tags) decode(a);
    for (auto& a : node.positional) decode(a);
  }

  // Rules that go beyond the shape of the arguments.
  std::optional<Error> semantics(const Node& node) {
    if (pending_) {
      auto e = pending_;
      pending_.reset();
      return e;
    }
    if (const Argument* c = node.tag(":comparator")) {
      const std::string& name = c->strings[0];
      if (name == "i;ascii-numeric") {
        if (!tree_.required.count("comparator-i;ascii-numeric"))
          return error(
              *c, "the comparator i;ascii-numeric needs require \"comparator-i;ascii-numeric\"");
        if (node.has(":contains") || node.has(":matches") || node.has(":regex"))
          return error(*c, "the comparator i;ascii-numeric supports only :is, :value and :count");
      } else if (name != "i;octet" && name != "i;ascii-casemap") {
        return error(*c, "unknown comparator \"" + name + "\"");
      }
    }
    for (const char* rel : {":value", ":count"}) {
      if (const Argument* r = node.tag(rel)) {
        static const char* ops[] = {"gt", "ge", "lt", "le", "eq", "ne"};
        std::string op = r->strings[0];
        for (char& ch : op) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (std::find_if(std::begin(ops), std::end(ops), [&](const char* o) { return op == o; }) ==
            std::end(ops))
          return error(*r,
                       "unknown relational operator \"" + r->strings[0] + "\" (gt ge lt le eq ne)");
      }
    }
    if (node.has(":last") && !node.has(":index") && node.name != "duplicate")
      return error(*node.tag(":last"), ":last needs :index");
    if (node.has(":index") && node.tag(":index")->number == 0)
      return error(*node.tag(":index"), ":index counts from 1");
    if (node.name == "size" && !node.has(":over") && !node.has(":under"))
      return error(node, "size needs :over or :under");
    if (node.name == "set" && !tree_.variables) return std::nullopt;
    if (node.name == "set") {
      std::string name = node.positional[0].strings[0];
      // "global.x" names a global variable (RFC 6609 3.5).
      if (name.size() > 7 && strncasecmp(name.c_str(), "global.", 7) == 0) name = name.substr(7);
      if (!valid_variable_name(name))
        return error(node, "bad variable name \"" + node.positional[0].strings[0] + "\"");
    }
    if (node.name == "global") {
      for (const auto& name : node.positional[0].strings)
        if (!valid_variable_name(name)) return error(node, "bad variable name \"" + name + "\"");
    }
    if (node.name == "include") {
      const std::string& name = node.positional[0].strings[0];
      if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
        return error(node, "bad script name \"" + name + "\" for include");
    }
    if (node.name == "address") {
      // RFC 5228 5.1: the address test is restricted to headers that hold addresses.
      static const char* kAddressHeaders[] = {"from",
                                              "sender",
                                              "reply-to",
                                              "to",
                                              "cc",
                                              "bcc",
                                              "resent-from",
                                              "resent-sender",
                                              "resent-to",
                                              "resent-cc",
                                              "resent-bcc",
                                              "return-path",
                                              "disposition-notification-to",
                                              "delivered-to",
                                              "approved",
                                              "original-recipient",
                                              "final-recipient",
                                              "errors-to"};
      for (const auto& header : node.positional[0].strings) {
        std::string h = header;
        for (char& ch : h) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (h.find("${") != std::string::npos) continue;  // known only at run time
        if (std::none_of(std::begin(kAddressHeaders), std::end(kAddressHeaders),
                         [&](const char* a) { return h == a; }))
          return error(node, "\"" + header + "\" is not an address header (address test)");
      }
    }
    if (node.name == "envelope") {
      for (const auto& part : node.positional[0].strings) {
        std::string p = part;
        for (char& ch : p) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (p != "from" && p != "to" && p.find("${") == std::string::npos)
          return error(node, "envelope part \"" + part + "\" is not supported (from, to)");
      }
    }
    if ((node.name == "setflag" || node.name == "addflag" || node.name == "removeflag" ||
         node.name == "hasflag") &&
        node.positional[0].line != -1) {
      if (!tree_.variables)
        return error(node, "a variable name in '" + node.name + "' needs require \"variables\"");
    }
    return std::nullopt;
  }

  ScriptTree& tree_;
  std::optional<Error> pending_;
};

}  // namespace

std::optional<Error> check(ScriptTree& tree) { return Checker(tree).run(); }

}  // namespace cubby::sieve
