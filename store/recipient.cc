// Mapping recipient addresses to mailboxes; see recipient.h.
#include "store/recipient.h"

#include <vector>

namespace cubby::store {

Result<RecipientMailboxes, Error> map_recipient(std::string_view address,
                                                const AddressRules& rules) {
  std::string_view local = address;
  if (auto at = local.rfind('@'); at != std::string_view::npos) local = local.substr(0, at);
  if (local.size() >= 2 && local.front() == '"' && local.back() == '"') {
    local = local.substr(1, local.size() - 2);
  }
  std::string_view detail;
  bool has_detail = false;
  if (auto plus = local.find('+'); plus != std::string_view::npos) {
    detail = local.substr(plus + 1);
    local = local.substr(0, plus);
    has_detail = true;
  }
  std::string user(local);
  if (rules.downcase) {
    for (auto& c : user) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
  }
  if (user.empty()) return fail(Error{Errc::kNotFound, "empty local part"});
  auto inbox = MailboxName::for_user(user, {});
  if (!inbox.ok()) return fail(inbox.error());
  RecipientMailboxes out{std::move(inbox.value()), std::nullopt, user};
  if (has_detail && !detail.empty()) {
    std::vector<std::string> folders;
    const char sep = rules.unix_sep ? '/' : '.';
    size_t start = 0;
    for (;;) {
      size_t pos = detail.find(sep, start);
      folders.emplace_back(detail.substr(start, pos == std::string_view::npos ? pos : pos - start));
      if (pos == std::string_view::npos) break;
      start = pos + 1;
    }
    auto folder = MailboxName::for_user(user, folders);
    if (folder.ok()) out.folder = std::move(folder.value());  // a bad detail falls back to INBOX
  }
  return out;
}

}  // namespace cubby::store
