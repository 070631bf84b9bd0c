// The per-thread cache of compiled regular expressions; see regex_cache.h.
#include "sieve/regex_cache.h"

namespace cubby::sieve {

CompiledRegex::CompiledRegex(const std::string& pattern, int flags) {
  const int rc = regcomp(&re_, pattern.c_str(), flags);
  if (rc == 0) {
    ok_ = true;
    return;
  }
  char buf[128];
  regerror(rc, &re_, buf, sizeof buf);
  regfree(&re_);  // glibc frees what a failed regcomp had allocated; harmless otherwise
  error_ = "bad regular expression \"" + pattern + "\": " + buf;
}

CompiledRegex::~CompiledRegex() {
  if (ok_) regfree(&re_);
}

const CompiledRegex& RegexCache::get(std::string_view pattern, int flags) {
  // The flags first, then the pattern (which may hold any byte but NUL, cut at it by regcomp).
  std::string key = std::to_string(flags);
  key += ':';
  key.append(pattern);
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return *it->second->regex;
  }
  ++compiles_;
  auto compiled = std::make_unique<CompiledRegex>(std::string(pattern), flags);
  if (by_key_.size() >= capacity_) {
    by_key_.erase(lru_.back().key);
    lru_.pop_back();  // regfree'd here
  }
  lru_.push_front(Entry{key, std::move(compiled)});
  by_key_.emplace(std::move(key), lru_.begin());
  return *lru_.front().regex;
}

RegexCache& thread_regex_cache() {
  thread_local RegexCache cache;
  return cache;
}

}  // namespace cubby::sieve
