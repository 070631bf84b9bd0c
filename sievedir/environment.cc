// The store-backed Sieve environment; see environment.h.
#include "sievedir/environment.h"

#include <algorithm>
#include <ctime>

#include "conf/log.h"
#include "sievedir/script_cache.h"
#include "store/recipient.h"

namespace cubby::sievedir {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::vector<std::string> split_path(const std::string& name) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t end = name.find('/', pos);
    if (end == std::string::npos) end = name.size();
    if (end > pos) out.push_back(name.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

}  // namespace

store::Db* SieveHistory::db() {
  if (db_) return &*db_;
  if (failed_) return nullptr;
  auto db = store::Db::open(path_);
  if (!db.ok()) {
    failed_ = true;
    CUBBY_LOG_ERR("sieve history %s: %s", path_.c_str(), db.error().detail.c_str());
    return nullptr;
  }
  if (auto e = db->exec("CREATE TABLE IF NOT EXISTS history(key TEXT PRIMARY KEY, mark INTEGER "
                        "NOT NULL) WITHOUT ROWID")) {
    failed_ = true;
    CUBBY_LOG_ERR("sieve history %s: %s", path_.c_str(), e->detail.c_str());
    return nullptr;
  }
  db_.emplace(std::move(db.value()));
  return &*db_;
}

bool SieveHistory::seen(const std::string& key, std::chrono::seconds period) {
  store::Db* d = db();
  if (!d) return false;
  store::Statement s(*d, "SELECT mark FROM history WHERE key = ?");
  s.bind(1, key);
  auto row = s.step();
  if (!row.ok() || !row.value()) return false;
  return s.int_at(0) + period.count() > static_cast<int64_t>(std::time(nullptr));
}

void SieveHistory::mark(const std::string& key) {
  store::Db* d = db();
  if (!d) return;
  store::Statement s(*d, "INSERT OR REPLACE INTO history(key, mark) VALUES(?, ?)");
  if (auto e = s.bind(1, key).bind(2, static_cast<int64_t>(std::time(nullptr))).run()) {
    CUBBY_LOG_ERR("sieve history %s: %s", path_.c_str(), e->detail.c_str());
  }
}

std::optional<std::string> sieve_mailbox(const store::MailboxName& inbox, const std::string& name) {
  auto parts = split_path(name);
  if (!parts.empty() && lower(parts.front()) == "inbox") parts.erase(parts.begin());
  if (parts.empty()) return inbox.internal();
  std::string user = store::owner_of(inbox);
  if (auto at = user.find('@'); at != std::string::npos) user.resize(at);
  auto box = store::MailboxName::for_user(user, parts, inbox.domain());
  if (!box.ok()) return std::nullopt;
  return box->internal();
}

StoreEnvironment::StoreEnvironment(store::Store& store, store::MailboxName inbox,
                                   const ScriptStore& scripts, SieveHistory* history)
    : store_(store),
      inbox_(std::move(inbox)),
      user_(store::owner_of(inbox_)),
      scripts_(scripts),
      history_(history) {}

bool StoreEnvironment::mailbox_exists(std::string_view mailbox) {
  auto name = sieve_mailbox(inbox_, std::string(mailbox));
  return name && store_.index().find_mailbox(*name).has_value();
}

bool StoreEnvironment::duplicate_seen(std::string_view key, std::chrono::seconds period) {
  return history_ && history_->seen(duplicate_key(user_, key), period);
}

bool StoreEnvironment::vacation_sent(std::string_view address, std::string_view handle,
                                     std::chrono::seconds period) {
  return history_ && history_->seen(vacation_key(user_, address, handle), period);
}

std::optional<std::string> StoreEnvironment::script_source(std::string_view name,
                                                           sieve::ScriptLocation where) {
  return include_source(scripts_, user_, name, where);
}

std::string StoreEnvironment::vacation_key(const std::string& user, std::string_view address,
                                           std::string_view handle) {
  return "v\n" + user + "\n" + lower(std::string(address)) + "\n" + std::string(handle);
}

std::string StoreEnvironment::duplicate_key(const std::string& user, std::string_view key) {
  return "d\n" + user + "\n" + std::string(key);
}

}  // namespace cubby::sievedir
