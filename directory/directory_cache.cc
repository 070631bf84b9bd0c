// The front end's cache of directory answers; see directory_cache.h.
#include "directory/directory_cache.h"

#include <algorithm>
#include <vector>

#include "conf/log.h"

namespace cubby::directory {

DirectoryCache::DirectoryCache(std::unique_ptr<Directory> source, CachePolicy policy, Clock clock)
    : source_(std::move(source)), policy_(policy), clock_(std::move(clock)) {}

Result<Location, LookupError> DirectoryCache::locate(const std::string& userid) {
  if (auto known = fresh(userid)) return *known;
  if (source_ == nullptr) return fail(LookupError{Fault::kUnreachable, "no directory to ask"});
  auto answer = source_->locate(userid);
  record(userid, answer);
  if (answer.ok() || answer.error().fault == Fault::kUnknownUser) return answer;
  if (auto known = usable(userid)) {
    CUBBY_LOG_INFO("directory: unreachable; %s served from the cache", userid.c_str());
    return *known;
  }
  return answer;
}

std::optional<Location> DirectoryCache::fresh(const std::string& userid) const {
  auto it = entries_.find(userid);
  if (it == entries_.end() || clock_() - it->second.fetched >= policy_.fresh) return std::nullopt;
  return it->second.where;
}

std::optional<Location> DirectoryCache::usable(const std::string& userid) const {
  auto it = entries_.find(userid);
  if (it == entries_.end() || clock_() - it->second.fetched >= policy_.fresh + policy_.stale) {
    return std::nullopt;
  }
  return it->second.where;
}

void DirectoryCache::record(const std::string& userid, Result<Location, LookupError> answer) {
  auto it = entries_.find(userid);
  if (answer.ok()) {
    const auto now = clock_();
    if (it == entries_.end()) {
      make_room(now);
      entries_.emplace(userid, Entry{answer.value(), now});
    } else {
      it->second = Entry{answer.value(), now};
    }
  } else if (answer.error().fault == Fault::kUnknownUser && it != entries_.end()) {
    entries_.erase(it);
  }
}

void DirectoryCache::make_room(std::chrono::steady_clock::time_point now) {
  if (entries_.size() < kMaxEntries) return;
  // Forget what is past use first, then the oldest half.
  std::erase_if(entries_, [&](const auto& e) {
    return now - e.second.fetched >= policy_.fresh + policy_.stale;
  });
  if (entries_.size() < kMaxEntries) return;
  std::vector<std::chrono::steady_clock::time_point> times;
  times.reserve(entries_.size());
  for (const auto& e : entries_) times.push_back(e.second.fetched);
  auto middle = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
  std::nth_element(times.begin(), middle, times.end());
  const auto cut = *middle;
  std::erase_if(entries_, [&](const auto& e) { return e.second.fetched <= cut; });
}

}  // namespace cubby::directory
