// The Sieve interpreter's tests (RFC 5228 section 5 and the extensions' tests); see evaluation.h.
#include <strings.h>

#include <algorithm>

#include "sieve/address.h"
#include "sieve/date.h"
#include "sieve/evaluation.h"
#include "sieve/match.h"
#include "sieve/mime.h"

namespace cubby::sieve {
namespace {

// The fields of `name` chosen by :index/:last (RFC 5260 4).
template <typename T>
std::vector<T> indexed(const Node& node, std::vector<T> all) {
  const Argument* index = node.tag(":index");
  if (!index) return all;
  const uint64_t i = index->number;
  if (i == 0 || i > all.size()) return {};
  return {all[node.has(":last") ? all.size() - i : i - 1]};
}

AddressPart part_of(const Node& node) {
  if (node.has(":localpart")) return AddressPart::kLocalPart;
  if (node.has(":domain")) return AddressPart::kDomain;
  if (node.has(":user")) return AddressPart::kUser;
  if (node.has(":detail")) return AddressPart::kDetail;
  return AddressPart::kAll;
}

}  // namespace

// Sets ${0}.. after a successful :matches or :regex (RFC 5229 3.2).
std::optional<bool> Evaluation::compare(Frame& f, const Node& node,
                                        const std::vector<std::string>& values,
                                        const std::vector<std::string>& raw_keys) {
  const Matcher m = matcher_of(node);
  const std::vector<std::string> keys = expand(f, raw_keys);
  if (m.type == MatchType::kCount) {
    for (const auto& k : keys)
      if (count_matches(m, values.size(), k)) return true;
    return false;
  }
  const bool capture =
      f.tree->variables && (m.type == MatchType::kMatches || m.type == MatchType::kRegex);
  std::vector<std::string> caps;
  for (const auto& v : values) {
    for (const auto& k : keys) {
      if (Clock::now() > deadline_) {
        fail_at(node, "time limit exceeded");
        return std::nullopt;
      }
      auto r = match(m, v, k, capture ? &caps : nullptr);
      if (!r.ok()) {
        fail_at(node, r.error());
        return std::nullopt;
      }
      if (r.value()) {
        if (capture) matches_ = caps;
        return true;
      }
    }
  }
  return false;
}

std::optional<bool> Evaluation::test(Frame& f, const Node& node) {
  const std::string& n = node.name;
  if (n == "true") return true;
  if (n == "false") return false;
  if (n == "not") {
    auto r = test(f, node.tests[0]);
    if (!r) return r;
    return !*r;
  }
  if (n == "allof" || n == "anyof") {
    const bool all = n == "allof";
    for (const Node& t : node.tests) {
      auto r = test(f, t);
      if (!r) return r;
      if (*r != all) return !all;  // short-circuit (RFC 5228 5.2, 5.3)
    }
    return all;
  }
  if (n == "exists") {
    for (const auto& h : expand(f, node.positional[0].strings))
      if (!message_.has(h)) return false;
    return true;
  }
  if (n == "size") {
    const uint64_t limit = node.positional[0].number;
    return node.has(":over") ? message_.size() > limit : message_.size() < limit;
  }
  if (n == "header") {
    std::vector<std::string> values;
    for (const auto& h : expand(f, node.positional[0].strings)) {
      auto v = indexed(node, message_.decoded_values(h));
      values.insert(values.end(), v.begin(), v.end());
    }
    return compare(f, node, values, node.positional[1].strings);
  }
  if (n == "address") {
    std::vector<std::string> values;
    const AddressPart part = part_of(node);
    for (const auto& h : expand(f, node.positional[0].strings)) {
      for (const auto& v : indexed(node, message_.decoded_values(h)))
        for (auto& a : address_test_values(v, part)) values.push_back(std::move(a));
    }
    return compare(f, node, values, node.positional[1].strings);
  }
  if (n == "envelope") {
    std::vector<std::string> values;
    const AddressPart part = part_of(node);
    for (const auto& which : expand(f, node.positional[0].strings)) {
      const std::string w = ascii_lower(which);
      const std::string& address = w == "from" ? envelope_.from : envelope_.to;
      if (w != "from" && w != "to") continue;
      if (address.empty()) {
        if (part != AddressPart::kDetail) values.push_back("");  // the null sender (RFC 5228 5.4)
      } else if (auto p = address_part(address, part)) {
        values.push_back(*p);
      }
    }
    return compare(f, node, values, node.positional[1].strings);
  }
  if (n == "string") {
    std::vector<std::string> values = expand(f, node.positional[0].strings);
    if (node.has(":count"))  // RFC 5229 5: empty strings are not counted
      values.erase(std::remove(values.begin(), values.end(), std::string()), values.end());
    return compare(f, node, values, node.positional[1].strings);
  }
  if (n == "hasflag") {
    std::vector<std::string> flags;
    if (node.positional[0].line == -1) {
      flags = flags_;
    } else {
      for (const auto& var : expand(f, node.positional[0].strings))
        add_flags(flags, {lookup(f, ascii_lower(var)).value_or("")});
    }
    return compare(f, node, flags, node.positional[1].strings);
  }
  if (n == "body") return body(f, node);
  if (n == "date" || n == "currentdate") return date(f, node);
  if (n == "duplicate") return duplicate(f, node);
  if (n == "mailboxexists") {
    for (const auto& m : expand(f, node.positional[0].strings))
      if (!env_.mailbox_exists(m)) return false;
    return true;
  }
  if (n == "ihave") {
    const std::vector<std::string> required(f.tree->required.begin(), f.tree->required.end());
    for (const auto& c : expand(f, node.positional[0].strings))
      if (!ihave(c, required)) return false;
    return true;
  }
  fail_at(node, "test '" + n + "' cannot run here");
  return std::nullopt;
}

std::optional<bool> Evaluation::body(Frame& f, const Node& node) {
  std::vector<std::string> values;
  if (node.has(":raw")) {
    values.emplace_back(message_.body());
  } else {
    std::vector<std::string> types = {"text"};
    if (const Argument* c = node.tag(":content")) types = expand(f, c->strings);
    for (const MimePart& part : message_.parts()) {
      const bool wanted = std::any_of(types.begin(), types.end(), [&](const std::string& t) {
        const std::string want = ascii_lower(t);
        if (want.empty()) return true;
        if (want.find('/') != std::string::npos) return part.type == want;
        return part.type.rfind(want + "/", 0) == 0;
      });
      // :text turns HTML into text (RFC 5173 5.2); :content compares the decoded part as is.
      if (wanted && !node.has(":content") && part.type == "text/html") {
        values.push_back(html_to_text(part.decoded()));
      } else if (wanted) {
        values.push_back(part.decoded());
      }
    }
  }
  return compare(f, node, values, node.positional[0].strings);
}

std::optional<bool> Evaluation::date(Frame& f, const Node& node) {
  const bool current = node.name == "currentdate";
  int zone = env_.zone_offset_minutes();
  if (const Argument* z = node.tag(":zone")) {
    auto parsed = parse_zone(string_arg(f, *z));
    if (!parsed) {
      fail_at(node, "bad :zone \"" + z->strings[0] + "\" (expected +hhmm or -hhmm)");
      return std::nullopt;
    }
    zone = *parsed;
  }
  const std::string part = ascii_lower(string_arg(f, node.positional[current ? 0 : 1]));
  std::vector<std::string> values;
  if (current) {
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(env_.now().time_since_epoch()).count();
    if (auto p = date_part(now, zone, part)) values.push_back(*p);
  } else {
    const std::string header = string_arg(f, node.positional[0]);
    for (const auto& v : indexed(node, message_.decoded_values(header))) {
      if (auto m = parse_rfc5322_date(v)) {
        if (auto p = date_part(m->utc, node.has(":originalzone") ? m->zone_minutes : zone, part))
          values.push_back(*p);
      }
    }
  }
  return compare(f, node, values, node.positional[current ? 1 : 2].strings);
}

std::optional<bool> Evaluation::duplicate(Frame& f, const Node& node) {
  std::string id;
  if (const Argument* u = node.tag(":uniqueid")) {
    id = string_arg(f, *u);
  } else {
    const std::string header =
        node.has(":header") ? string_arg(f, *node.tag(":header")) : "Message-ID";
    auto values = message_.decoded_values(header);
    if (values.empty()) return false;  // nothing to track
    id = values[0];
  }
  const std::string handle = node.has(":handle") ? string_arg(f, *node.tag(":handle")) : "";
  const std::string key = handle + "\n" + id;
  std::chrono::seconds period = limits_.duplicate_default_period;
  if (const Argument* s = node.tag(":seconds"))
    period = std::chrono::seconds(std::min<uint64_t>(s->number, 100000ull * 86400));
  // Within one run, a second test of the same key sees the first (RFC 7352 3.1).
  const bool seen = std::any_of(duplicates_.begin(), duplicates_.end(),
                                [&](const DuplicateMark& d) { return d.key == key; }) ||
                    env_.duplicate_seen(key, period);
  if (!seen || node.has(":last")) duplicates_.push_back(DuplicateMark{key, period});
  return seen;
}

}  // namespace cubby::sieve
