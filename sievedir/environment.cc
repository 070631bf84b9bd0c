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

SieveHistory::SieveHistory(std::string path) : SieveHistory(std::move(path), Bounds()) {}

SieveHistory::SieveHistory(std::string path, Bounds bounds)
    : path_(std::move(path)), bounds_(std::move(bounds)) {}

store::Db* SieveHistory::db() {
  if (db_) return &*db_;
  if (failed_) return nullptr;
  auto db = store::Db::open(path_);
  if (!db.ok()) {
    failed_ = true;
    CUBBY_LOG_ERR("sieve history %s: %s", path_.c_str(), db.error().detail.c_str());
    return nullptr;
  }
  auto fail = [&](const store::Error& e) {
    failed_ = true;
    CUBBY_LOG_ERR("sieve history %s: %s", path_.c_str(), e.detail.c_str());
    return nullptr;
  };
  if (auto e = db->exec("CREATE TABLE IF NOT EXISTS history(key TEXT PRIMARY KEY, mark INTEGER "
                        "NOT NULL, expires INTEGER) WITHOUT ROWID")) {
    return fail(*e);
  }
  // A history made before marks had a period: add the column (its rows age out by max_age).
  bool has_expires = false;
  {
    store::Statement columns(*db, "PRAGMA table_info(history)");
    for (;;) {
      auto row = columns.step();
      if (!row.ok()) return fail(row.error());
      if (!row.value()) break;
      if (columns.text_at(1) == "expires") has_expires = true;
    }
  }
  if (!has_expires) {
    if (auto e = db->exec("ALTER TABLE history ADD COLUMN expires INTEGER")) return fail(*e);
  }
  if (auto e = db->exec("CREATE INDEX IF NOT EXISTS history_expires ON history(expires);"
                        "CREATE INDEX IF NOT EXISTS history_mark ON history(mark)")) {
    return fail(*e);
  }
  db_.emplace(std::move(db.value()));
  prune();
  return &*db_;
}

void SieveHistory::maybe_prune() {
  if (now() - last_prune_ >= bounds_.prune_interval.count()) prune();
}

size_t SieveHistory::prune() {
  store::Db* d = db();
  if (!d) return 0;
  const int64_t t = now();
  last_prune_ = t;
  size_t removed = 0;
  auto run = [&](const char* sql, int64_t a) {
    store::Statement s(*d, sql);
    if (auto e = s.bind(1, a).run()) {
      CUBBY_LOG_ERR("sieve history %s: pruning: %s", path_.c_str(), e->detail.c_str());
      return false;
    }
    removed += static_cast<size_t>(d->changes());
    return true;
  };
  if (!run("DELETE FROM history WHERE expires < ?", t)) return removed;
  if (!run("DELETE FROM history WHERE mark < ?", t - bounds_.max_age.count())) return removed;
  const size_t n = size();
  if (n > bounds_.max_entries) {
    run("DELETE FROM history WHERE key IN (SELECT key FROM history ORDER BY mark LIMIT ?)",
        static_cast<int64_t>(n - bounds_.max_entries));
  }
  if (removed > 0) {
    CUBBY_LOG_INFO("sieve history %s: %zu old marks pruned", path_.c_str(), removed);
  }
  return removed;
}

size_t SieveHistory::size() {
  store::Db* d = db();
  if (!d) return 0;
  store::Statement s(*d, "SELECT count(*) FROM history");
  auto row = s.step();
  if (!row.ok() || !row.value()) return 0;
  return static_cast<size_t>(s.int_at(0));
}

bool SieveHistory::seen(const std::string& key, std::chrono::seconds period) {
  store::Db* d = db();
  if (!d) return false;
  maybe_prune();
  store::Statement s(*d, "SELECT mark FROM history WHERE key = ?");
  s.bind(1, key);
  auto row = s.step();
  if (!row.ok() || !row.value()) return false;
  return s.int_at(0) + period.count() > static_cast<int64_t>(now());
}

void SieveHistory::mark(const std::string& key, std::chrono::seconds period) {
  store::Db* d = db();
  if (!d) return;
  maybe_prune();
  const int64_t t = now();
  store::Statement s(*d, "INSERT OR REPLACE INTO history(key, mark, expires) VALUES(?, ?, ?)");
  if (auto e = s.bind(1, key).bind(2, t).bind(3, t + period.count()).run()) {
    CUBBY_LOG_ERR("sieve history %s: %s", path_.c_str(), e->detail.c_str());
  }
}

void SieveHistory::forget(const std::string& key) {
  store::Db* d = db();
  if (!d) return;
  store::Statement s(*d, "DELETE FROM history WHERE key = ?");
  if (auto e = s.bind(1, key).run()) {
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
