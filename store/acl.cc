// Mailbox ACLs with Cyrus rights; see acl.h.
#include "store/acl.h"

#include <array>

namespace cubby::store {
namespace {

struct NamedSet {
  std::string_view name, rights;
};
constexpr std::array<NamedSet, 8> kNamedSets = {{
    {"none", ""},
    {"lookup", "l"},
    {"read", "lrs"},
    {"post", "lrsp"},
    {"append", "lrsip"},
    {"write", "lrswipkxte"},
    {"delete", "lrxte"},
    {"all", "lrswipkxtean"},
}};

std::string canonical(const std::string& letters) {
  std::string out;
  for (char r : kAllRights) {
    if (letters.find(r) != std::string::npos) out += r;
  }
  return out;
}

bool matches(std::string_view identifier, std::string_view identity) {
  if (identifier == "anyone") return true;
  if (identifier == "anonymous") return identity.empty();
  return !identity.empty() && identifier == identity;
}

}  // namespace

Result<std::string, std::string> parse_rights(std::string_view text) {
  for (const auto& set : kNamedSets) {
    if (text == set.name) return std::string(set.rights);
  }
  std::string letters;
  for (char c : text) {
    if (c == 'c') {
      letters += "kx";
    } else if (c == 'd') {
      letters += "xte";
    } else if (kAllRights.find(c) != std::string_view::npos) {
      letters += c;
    } else {
      return fail("\"" + std::string(text) + "\" is not a set of rights (letters of " +
                  std::string(kAllRights) + ", or none, read, post, append, write, delete, all)");
    }
  }
  return canonical(letters);
}

std::optional<std::string> check_identifier(std::string_view identifier) {
  std::string_view name = identifier;
  if (!name.empty() && name[0] == '-') name.remove_prefix(1);
  if (name.empty()) return "an ACL identifier may not be empty";
  for (unsigned char c : name) {
    if (c <= 0x20 || c == 0x7f) {
      return "ACL identifier \"" + std::string(identifier) + "\" holds a space or control character";
    }
  }
  return std::nullopt;
}

Result<Acl, std::string> Acl::parse(std::string_view stored) {
  Acl acl;
  while (!stored.empty()) {
    const size_t tab1 = stored.find('\t');
    const size_t tab2 = tab1 == std::string_view::npos ? tab1 : stored.find('\t', tab1 + 1);
    if (tab2 == std::string_view::npos) return fail("malformed ACL \"" + std::string(stored) + "\"");
    if (auto e = acl.set(stored.substr(0, tab1), stored.substr(tab1 + 1, tab2 - tab1 - 1))) {
      return fail(*e);
    }
    stored.remove_prefix(tab2 + 1);
  }
  return acl;
}

Acl Acl::for_new_mailbox(const std::string& owner, std::string_view default_acl) {
  Acl acl;
  if (!owner.empty()) {
    acl.set(owner, kAllRights);
    return acl;
  }
  // "<identifier> <rights> ..." pairs; a malformed pair is skipped.
  std::vector<std::string> words;
  std::string word;
  for (char c : default_acl) {
    if (c == ' ' || c == '\t') {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  for (size_t i = 0; i + 1 < words.size(); i += 2) {
    auto rights = parse_rights(words[i + 1]);
    if (rights.ok()) acl.set(words[i], rights.value());
  }
  return acl;
}

std::string Acl::str() const {
  std::string out;
  for (const auto& [id, rights] : entries_) out += id + "\t" + rights + "\t";
  return out;
}

std::string Acl::rights_of(std::string_view identity) const {
  std::string granted, denied;
  for (const auto& [id, rights] : entries_) {
    if (!id.empty() && id[0] == '-') {
      if (matches(std::string_view(id).substr(1), identity)) denied += rights;
    } else if (matches(id, identity)) {
      granted += rights;
    }
  }
  std::string out;
  for (char r : kAllRights) {
    if (granted.find(r) != std::string::npos && denied.find(r) == std::string::npos) out += r;
  }
  return out;
}

std::string Acl::entry(std::string_view identifier) const {
  for (const auto& [id, rights] : entries_) {
    if (id == identifier) return rights;
  }
  return "";
}

std::optional<std::string> Acl::set(std::string_view identifier, std::string_view rights_text) {
  if (auto e = check_identifier(identifier)) return e;
  auto rights = parse_rights(rights_text);
  if (!rights.ok()) return rights.error();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->first != identifier) continue;
    if (rights->empty()) {
      entries_.erase(it);
    } else {
      it->second = rights.value();
    }
    return std::nullopt;
  }
  if (!rights->empty()) entries_.emplace_back(std::string(identifier), rights.value());
  return std::nullopt;
}

std::optional<std::string> Acl::change(std::string_view identifier, std::string_view text) {
  if (text.empty() || (text[0] != '+' && text[0] != '-')) return set(identifier, text);
  auto delta = parse_rights(text.substr(1));
  if (!delta.ok()) return delta.error();
  std::string now = entry(identifier);
  if (text[0] == '+') {
    now += delta.value();
  } else {
    std::string kept;
    for (char r : now) {
      if (delta->find(r) == std::string::npos) kept += r;
    }
    now = kept;
  }
  return set(identifier, now);
}

std::optional<Error> check_post_right(std::string_view stored_acl, std::string_view poster,
                                      const std::string& mailbox) {
  auto acl = Acl::parse(stored_acl);
  const std::string rights = acl.ok() ? acl->rights_of(poster) : "";
  if (rights.find('p') != std::string::npos) return std::nullopt;
  const std::string who = poster.empty() ? "anonymous" : std::string(poster);
  if (rights.find('l') != std::string::npos) {
    return Error{Errc::kPermission, who + " may not post to " + mailbox};
  }
  return Error{Errc::kNotFound, "mailbox " + mailbox + " is not visible to " + who};
}

}  // namespace cubby::store
