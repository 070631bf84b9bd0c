// Maildir quota rules of a delivery; see maildir_delivery.h.
#include "store/maildir_delivery.h"

#include "conf/log.h"
#include "store/mailbox_name.h"
#include "store/maildir_layout.h"

namespace cubby::store {
namespace {

Result<UserMaildir, Error> open_user(const StoreConfig& config, const MailboxRecord& box) {
  auto name = MailboxName::from_internal(box.name);
  if (!name.ok()) return fail(name.error());
  auto user = UserMaildir::open(config.partition_root(box.partition), *name);
  if (!user.ok()) {
    Error e = user.error();
    if (e.code != Errc::kNoSpace) e.code = Errc::kIo;  // the recipient gets 451, not 550
    return fail(e);
  }
  return user;
}

}  // namespace

Result<std::optional<MaildirQuota>, Error> user_maildir_quota(const StoreConfig& config,
                                                              const MailboxRecord& box) {
  auto user = open_user(config, box);
  if (!user.ok()) return fail(user.error());
  auto quota = read_maildir_quota(*user);
  if (!quota.ok()) return fail(quota.error());
  if (!quota->recalculated.empty()) {
    CUBBY_LOG_NOTICE("quota: %s/maildirsize recalculated (%s): %lld bytes, %lld messages",
                     user->path().c_str(), quota->recalculated.c_str(),
                     static_cast<long long>(quota->usage.bytes),
                     static_cast<long long>(quota->usage.messages));
  }
  if (!quota->exists) return std::optional<MaildirQuota>();
  return std::optional<MaildirQuota>(std::move(*quota));
}

std::optional<Error> check_maildir_delivery_quota(const MaildirQuota& quota,
                                                  const MaildirUsage& charged, int64_t size,
                                                  bool strict, const std::string& user) {
  MaildirUsage usage = quota.usage;
  usage.bytes += charged.bytes;
  usage.messages += charged.messages;
  if (!maildir_quota_exceeded(quota.limits, usage, strict ? size : 0, strict ? 1 : 0)) {
    return std::nullopt;
  }
  return Error{Errc::kOverQuota, "the Maildir quota of " + user + " is over its limit"};
}

std::optional<Error> check_maildir_rcpt_quota(const StoreConfig& config, const MailboxRecord& box,
                                              int64_t size, bool strict) {
  if (config.mailbox_format(box.partition, box.format) != PartitionFormat::kMaildir) return std::nullopt;
  auto quota = user_maildir_quota(config, box);
  if (!quota.ok()) return quota.error();
  if (!*quota) return std::nullopt;
  return check_maildir_delivery_quota(**quota, MaildirUsage{}, size, strict, box.name);
}

void charge_maildir_quota(const StoreConfig& config, const MailboxRecord& box, int64_t size) {
  auto user = open_user(config, box);
  if (!user.ok()) {
    CUBBY_LOG_WARNING("quota: cannot add a delivery to %s's maildirsize: %s", box.name.c_str(),
                      user.error().detail.c_str());
    return;
  }
  auto appended = append_maildir_quota(*user, size, 1);
  if (!appended.ok()) {
    CUBBY_LOG_WARNING("quota: cannot add a delivery to %s/maildirsize: %s", user->path().c_str(),
                      appended.error().detail.c_str());
  }
}

}  // namespace cubby::store
