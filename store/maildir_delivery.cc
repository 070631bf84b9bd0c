// Maildir quota rules of a delivery; see maildir_delivery.h.
#include "store/maildir_delivery.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

#include "conf/log.h"
#include "store/fs.h"
#include "store/mailbox_name.h"
#include "store/maildir_flags.h"
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

// read_maildir_quota(), with the recalculation logged.
Result<MaildirQuota, Error> read_logged(const UserMaildir& user) {
  auto quota = read_maildir_quota(user);
  if (!quota.ok()) return fail(quota.error());
  if (!quota->recalculated.empty()) {
    CUBBY_LOG_NOTICE("quota: %s/maildirsize recalculated (%s): %lld bytes, %lld messages",
                     user.path().c_str(), quota->recalculated.c_str(),
                     static_cast<long long>(quota->usage.bytes),
                     static_cast<long long>(quota->usage.messages));
  }
  return quota;
}

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
         a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

}  // namespace

Result<std::optional<MaildirQuota>, Error> MaildirQuotaCache::quota(const StoreConfig& config,
                                                                    const MailboxRecord& box) {
  auto name = MailboxName::from_internal(box.name);
  if (!name.ok()) return fail(Error{Errc::kIo, name.error().detail});
  auto dir = maildir_user_dir(*name);
  if (!dir.ok()) return fail(Error{Errc::kIo, dir.error().detail});
  const std::string key = box.partition + ":" + *dir;
  if (auto it = users_.find(key); it != users_.end()) {
    const Entry& e = it->second;
    struct stat d, f;
    if (::fstatat(AT_FDCWD, e.path.c_str(), &d, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(d.st_mode) &&
        d.st_dev == e.dir_dev && d.st_ino == e.dir_ino) {
      const int r = ::fstatat(AT_FDCWD, (e.path + "/maildirsize").c_str(), &f, AT_SYMLINK_NOFOLLOW);
      if ((r != 0 && errno == ENOENT && !e.file) ||
          (r == 0 && e.file && S_ISREG(f.st_mode) && same_file(f, e.file_stat))) {
        ++hits_;
        return e.quota;
      }
    }
    users_.erase(it);
  }
  ++reads_;
  auto user = open_user(config, box);
  if (!user.ok()) return fail(user.error());
  Entry e{config.partition_root(box.partition) + "/" + *dir, 0, 0, false, {}, std::nullopt};
  struct stat d {};
  bool keep = ::fstat(user->fd(), &d) == 0;
  e.dir_dev = d.st_dev;
  e.dir_ino = d.st_ino;
  // Stat before reading: a change while it is read makes the next look-up read it again.
  if (::fstatat(user->fd(), "maildirsize", &e.file_stat, AT_SYMLINK_NOFOLLOW) == 0) {
    e.file = true;
    keep = keep && S_ISREG(e.file_stat.st_mode);
  } else {
    keep = keep && errno == ENOENT;
  }
  auto quota = read_logged(*user);
  if (!quota.ok()) return fail(quota.error());
  std::optional<MaildirQuota> out;
  if (quota->exists) out = std::move(*quota);
  keep = keep && quota->recalculated.empty() && out.has_value() == e.file &&
         !(out && maildir_quota_exceeded(out->limits, out->usage, 0, 0));
  if (keep) {
    if (users_.size() >= kMaxUsers) users_.clear();
    e.quota = out;
    users_.emplace(key, std::move(e));
  }
  return out;
}

Result<std::optional<MaildirQuota>, Error> user_maildir_quota(const StoreConfig& config,
                                                              const MailboxRecord& box) {
  auto user = open_user(config, box);
  if (!user.ok()) return fail(user.error());
  auto quota = read_logged(*user);
  if (!quota.ok()) return fail(quota.error());
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
                                              int64_t size, bool strict, MaildirQuotaCache* cache) {
  if (config.mailbox_format(box.partition, box.format) != PartitionFormat::kMaildir) return std::nullopt;
  auto quota = cache ? cache->quota(config, box) : user_maildir_quota(config, box);
  if (!quota.ok()) return quota.error();
  if (!*quota) return std::nullopt;
  return check_maildir_delivery_quota(**quota, MaildirUsage{}, size, strict, box.name);
}

void prepare_maildir_keywords(const StoreConfig& config, const MailboxRecord& box,
                              const std::vector<std::string>& flags) {
  const bool keywords = std::any_of(
      flags.begin(), flags.end(), [](const std::string& f) { return !f.empty() && f[0] != '\\'; });
  if (!keywords) return;
  if (config.mailbox_format(box.partition, box.format) != PartitionFormat::kMaildir) return;
  const std::string root = config.partition_root(box.partition);
  Fd dir;
  std::optional<Error> problem = open_dir_beneath(root, box.dir, &dir);
  if (!problem) {
    auto info = maildir_info(dir.get(), root + "/" + box.dir, flags);
    if (!info.ok()) problem = info.error();
  }
  if (problem) {
    CUBBY_LOG_WARNING(
        "store: the keywords of a delivery to %s could not be listed in its "
        "dovecot-keywords before the commit: %s",
        box.name.c_str(), problem->detail.c_str());
  }
}

void MaildirCharges::add(const MailboxRecord& box, int64_t size) {
  auto known = by_mailbox_.find(box.id);
  if (known == by_mailbox_.end()) {
    // Cannot fail: the message was just linked into this user's Maildir.
    auto name = MailboxName::from_internal(box.name);
    if (!name.ok()) return;
    auto dir = maildir_user_dir(*name);
    if (!dir.ok()) return;
    auto [it, fresh] = users_.try_emplace(box.partition + ":" + *dir);
    if (fresh) it->second = Charge{box.partition, *dir, MaildirUsage{}};
    known = by_mailbox_.emplace(box.id, &it->second).first;
  }
  known->second->usage.bytes += size;
  known->second->usage.messages += 1;
}

void MaildirCharges::write(const StoreConfig& config) {
  for (const auto& [key, c] : users_) {
    const std::string root = config.partition_root(c.partition);
    auto user = UserMaildir::open(root, c.user_dir);
    auto appended = user.ok() ? append_maildir_quota(*user, c.usage.bytes, c.usage.messages)
                              : Result<bool, Error>(fail(user.error()));
    if (!appended.ok()) {
      CUBBY_LOG_WARNING("quota: cannot add %lld deliveries to %s/%s/maildirsize: %s",
                        static_cast<long long>(c.usage.messages), root.c_str(),
                        c.user_dir.c_str(), appended.error().detail.c_str());
    }
  }
  users_.clear();
  by_mailbox_.clear();
}

}  // namespace cubby::store
