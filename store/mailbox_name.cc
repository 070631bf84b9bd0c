// Parsing and rendering of mailbox names and their directories; see mailbox_name.h.
#include "store/mailbox_name.h"

namespace cubby::store {
namespace {

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    out.emplace_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

Error bad_name(std::string_view name, const std::string& why) {
  return Error{Errc::kBadName, "invalid mailbox name \"" + std::string(name) + "\": " + why};
}

char hash_letter(const std::string& s) {
  char c = s.empty() ? 'q' : s[0];
  if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return (c >= 'a' && c <= 'z') ? c : 'q';
}

// A domain becomes a directory ("domain/<d>/...") and follows "@" in an external name: a
// component that holds no '@' either (or the external name would read back differently).
std::optional<Error> check_domain_text(std::string_view d) {
  if (d.find('@') != std::string_view::npos) return bad_name(d, "'@' inside a domain");
  return std::nullopt;
}

// A name may be 1024 bytes long, its domain aside (as from_external() and from_internal() allow).
std::optional<Error> check_length(const MailboxName& n) {
  const std::string internal = n.internal();
  const size_t domain = n.domain().empty() ? 0 : n.domain().size() + 1;
  if (internal.size() - domain > 1024) return bad_name(internal, "longer than 1024 bytes");
  return std::nullopt;
}

}  // namespace

std::optional<Error> MailboxName::check_domain(std::string_view d) {
  if (auto e = check_component(d)) return e;
  return check_domain_text(d);
}

std::optional<Error> MailboxName::check_component(std::string_view c) {
  if (c.empty()) return bad_name(c, "empty component");
  if (c.size() > 255) return bad_name(c, "component longer than 255 bytes");
  if (c == "." || c == "..") return bad_name(c, "\".\" and \"..\" are not mailbox names");
  for (unsigned char ch : c) {
    if (ch < 0x20 || ch == 0x7f) return bad_name(c, "control character");
    if (ch == '/') return bad_name(c, "'/' inside a component");
    if (ch == '^') return bad_name(c, "'^' is reserved");
    if (ch == '!') return bad_name(c, "'!' separates a domain");
  }
  return std::nullopt;
}

std::optional<Error> MailboxName::check_built() const {
  for (const auto& c : parts_) {
    if (auto e = check_component(c)) return e;
  }
  if (!domain_.empty()) {
    if (auto e = check_domain(domain_)) return e;
  }
  return check_length(*this);
}

Result<MailboxName, Error> MailboxName::from_external(std::string_view external, bool unix_sep) {
  MailboxName n;
  std::string_view rest = external;
  if (auto bang = rest.find('!'); bang != std::string_view::npos) {
    n.domain_ = std::string(rest.substr(0, bang));
    rest.remove_prefix(bang + 1);
  } else if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    // external() writes "@<domain>" with either separator.
    n.domain_ = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
  }
  if (rest.size() > 1024) return fail(bad_name(external, "longer than 1024 bytes"));
  n.parts_ = split(rest, unix_sep ? '/' : '.');
  for (auto& c : n.parts_) {
    if (!unix_sep) {
      for (auto& ch : c) {
        if (ch == '^') ch = '.';  // as external(false) writes a '.' inside a component
      }
    }
    if (auto e = check_component(c)) return fail(bad_name(external, e->detail));
  }
  if (!n.domain_.empty()) {
    if (auto e = check_domain(n.domain_)) return fail(bad_name(external, "bad domain"));
  }
  return n;
}

Result<MailboxName, Error> MailboxName::from_internal(std::string_view internal) {
  MailboxName n;
  std::string_view rest = internal;
  if (auto bang = rest.find('!'); bang != std::string_view::npos) {
    n.domain_ = std::string(rest.substr(0, bang));
    rest.remove_prefix(bang + 1);
    // The domain becomes a directory too ("domain/<d>/..."): the same rules as a component.
    if (auto e = check_domain(n.domain_)) return fail(bad_name(internal, "bad domain"));
  }
  if (rest.size() > 1024) return fail(bad_name(internal, "longer than 1024 bytes"));
  for (auto& c : split(rest, '.')) {
    for (auto& ch : c) {
      if (ch == '^') ch = '.';
    }
    if (auto e = check_component(c)) return fail(bad_name(internal, e->detail));
    n.parts_.push_back(std::move(c));
  }
  return n;
}

Result<MailboxName, Error> MailboxName::for_user(std::string_view userid,
                                                 const std::vector<std::string>& folders,
                                                 std::string_view domain) {
  MailboxName n;
  n.domain_ = std::string(domain);
  n.parts_ = {"user", std::string(userid)};
  n.parts_.insert(n.parts_.end(), folders.begin(), folders.end());
  if (auto e = n.check_built()) return fail(*e);
  return n;
}

Result<MailboxName, Error> MailboxName::shared(const std::vector<std::string>& components,
                                               std::string_view domain) {
  MailboxName n;
  n.domain_ = std::string(domain);
  n.parts_ = components;
  if (n.parts_.empty()) return fail(bad_name("", "no name"));
  if (n.parts_[0] == "user") return fail(bad_name("user", "\"user\" is not a shared mailbox"));
  if (auto e = n.check_built()) return fail(*e);
  return n;
}

std::string MailboxName::internal() const {
  std::string out = domain_.empty() ? "" : domain_ + "!";
  for (size_t i = 0; i < parts_.size(); ++i) {
    if (i) out += '.';
    for (char ch : parts_[i]) out += ch == '.' ? '^' : ch;
  }
  return out;
}

std::string MailboxName::external(bool unix_sep) const {
  std::string out;
  for (size_t i = 0; i < parts_.size(); ++i) {
    if (i) out += unix_sep ? '/' : '.';
    for (char ch : parts_[i]) out += (!unix_sep && ch == '.') ? '^' : ch;
  }
  if (!domain_.empty()) out += "@" + domain_;
  return out;
}

std::string MailboxName::relative_dir(bool hash_spool) const {
  std::string out;
  if (!domain_.empty()) {
    out = "domain/";
    if (hash_spool) out += std::string(1, hash_letter(domain_)) + "/";
    out += domain_ + "/";
  }
  if (hash_spool) {
    out += hash_letter(parts_.size() > 1 ? parts_[1] : parts_[0]);
    out += '/';
  }
  for (size_t i = 0; i < parts_.size(); ++i) {
    if (i) out += '/';
    for (char ch : parts_[i]) out += ch == '.' ? '^' : ch;
  }
  return out;
}

std::optional<MailboxName> MailboxName::parent() const {
  const size_t top = is_user() ? 2 : 1;
  if (parts_.size() <= top) return std::nullopt;
  MailboxName n = *this;
  n.parts_.pop_back();
  return n;
}

MailboxName MailboxName::with_prefix_replaced(const MailboxName& prefix,
                                              const MailboxName& to) const {
  MailboxName n = to;
  n.parts_.insert(n.parts_.end(), parts_.begin() + static_cast<long>(prefix.parts_.size()),
                  parts_.end());
  return n;
}

bool MailboxName::contains(const MailboxName& other) const {
  if (other.domain_ != domain_ || other.parts_.size() < parts_.size()) return false;
  for (size_t i = 0; i < parts_.size(); ++i) {
    if (parts_[i] != other.parts_[i]) return false;
  }
  return true;
}

std::optional<MailboxName> MailboxName::inbox() const {
  if (!is_user()) return std::nullopt;
  MailboxName n;
  n.domain_ = domain_;
  n.parts_ = {parts_[0], parts_[1]};
  return n;
}

}  // namespace cubby::store
