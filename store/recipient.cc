// Mapping recipient addresses to mailboxes; see recipient.h.
#include "store/recipient.h"

#include <vector>

#include "store/imap_utf7.h"

namespace cubby::store {
namespace {

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool iequals_ascii(std::string_view a, std::string_view b) {
  return a.size() == b.size() && lower_ascii(a) == lower_ascii(b);
}

// The detail's folder names: modified UTF-7, split on the separator; nullopt if unusable.
std::optional<std::vector<std::string>> detail_folders(std::string_view detail, char sep) {
  auto encoded = utf8_to_imap_utf7(detail);
  if (!encoded) return std::nullopt;
  std::vector<std::string> folders;
  size_t start = 0;
  for (;;) {
    size_t pos = encoded->find(sep, start);
    folders.push_back(encoded->substr(start, pos == std::string::npos ? pos : pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return folders;
}

}  // namespace

AddressRules AddressRules::from(const conf::Settings& s) {
  AddressRules r;
  r.downcase = s.get_bool("lmtp_downcase_rcpt");
  r.unix_sep = s.get_bool("unixhierarchysep");
  r.virtdomains = s.get_string("virtdomains") != "off";
  r.default_domain = s.get_string("defaultdomain");
  r.postuser = s.get_string("postuser");
  return r;
}

Result<RecipientMailbox, Error> map_recipient(std::string_view address, const AddressRules& rules) {
  std::string_view local = address, domain;
  if (auto at = address.rfind('@'); at != std::string_view::npos) {
    local = address.substr(0, at);
    domain = address.substr(at + 1);
  }
  if (local.size() >= 2 && local.front() == '"' && local.back() == '"') {
    local = local.substr(1, local.size() - 2);
  }
  std::string kept_domain;
  if (rules.virtdomains && !domain.empty() && !iequals_ascii(domain, rules.default_domain)) {
    kept_domain = rules.downcase ? lower_ascii(domain) : std::string(domain);
  }
  std::string_view detail;
  bool has_detail = false;
  if (auto plus = local.find('+'); plus != std::string_view::npos) {
    detail = local.substr(plus + 1);
    local = local.substr(0, plus);
    has_detail = true;
  }
  const std::string user = rules.downcase ? lower_ascii(local) : std::string(local);
  const char sep = rules.unix_sep ? '/' : '.';

  if (user == rules.postuser) {
    if (!has_detail || detail.empty()) {
      return fail(Error{Errc::kNotFound, "no shared mailbox named in " + std::string(address)});
    }
    auto folders = detail_folders(detail, sep);
    if (!folders) {
      return fail(Error{Errc::kBadName, "shared mailbox name in " + std::string(address) +
                                            " is not UTF-8"});
    }
    auto name = MailboxName::shared(*folders, kept_domain);
    if (!name.ok()) return fail(name.error());
    return RecipientMailbox{std::move(name.value()), std::nullopt, true, ""};
  }

  if (user.empty()) return fail(Error{Errc::kNotFound, "empty user in " + std::string(address)});
  auto inbox = MailboxName::for_user(user, {}, kept_domain);
  if (!inbox.ok()) return fail(inbox.error());
  RecipientMailbox out{std::move(inbox.value()), std::nullopt, false, ""};
  out.userid = owner_of(out.mailbox);
  if (has_detail && !detail.empty()) {
    auto folders = detail_folders(detail, sep);
    const bool is_inbox = folders && folders->size() == 1 && iequals_ascii((*folders)[0], "INBOX");
    if (folders && !is_inbox) {
      auto folder = MailboxName::for_user(user, *folders, kept_domain);
      if (folder.ok()) out.folder = std::move(folder.value());  // else: the INBOX
    }
  }
  return out;
}

Result<MailboxName, Error> inbox_of_userid(std::string_view userid, const AddressRules& rules) {
  AddressRules plain = rules;
  plain.postuser = "\n";  // a userid never names a shared mailbox
  auto mapped = map_recipient(userid, plain);
  if (!mapped.ok()) return fail(mapped.error());
  return mapped->mailbox;
}

std::string owner_of(const MailboxName& mailbox) {
  if (!mailbox.is_user()) return "";
  const std::string& user = mailbox.components()[1];
  return mailbox.domain().empty() ? user : user + "@" + mailbox.domain();
}

}  // namespace cubby::store
