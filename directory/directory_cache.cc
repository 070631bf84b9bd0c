// The front end's cache of directory answers; see directory_cache.h.
#include "directory/directory_cache.h"

#include <algorithm>
#include <vector>

#include "conf/log.h"

namespace cubby::directory {

DirectoryCache::DirectoryCache(std::unique_ptr<Directory> source, CachePolicy policy, Clock clock)
    : source_(std::move(source)), policy_(policy), clock_(std::move(clock)) {}

Result<Location, LookupError> DirectoryCache::locate(const std::string& userid) {
  const auto now = clock_();
  auto it = entries_.find(userid);
  if (it != entries_.end() && now - it->second.fetched < policy_.fresh) return it->second.where;

  auto answer = source_->locate(userid);
  if (answer.ok()) {
    if (it == entries_.end()) {
      make_room(now);
      entries_.emplace(userid, Entry{answer.value(), now});
    } else {
      it->second = Entry{answer.value(), now};
    }
    return answer;
  }
  if (answer.error().fault == Fault::kUnknownUser) {
    if (it != entries_.end()) entries_.erase(it);
    return answer;
  }
  if (it != entries_.end() && now - it->second.fetched < policy_.fresh + policy_.stale) {
    CUBBY_LOG_INFO("directory: unreachable; %s served from the cache", userid.c_str());
    return it->second.where;
  }
  return answer;
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
