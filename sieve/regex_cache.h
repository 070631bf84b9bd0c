// Compiled POSIX regular expressions for the :regex match type, kept between evaluations so that a
// script's pattern is compiled once per worker, not once per test per recipient per message (glibc's
// regcomp, and the DFA tables regexec builds into the regex_t on first use, were the largest cost
// of a delivery with a sorting script).
//
// Keyed by pattern and regcomp flags (the same pattern under i;octet and i;ascii-casemap, or with
// and without captures, is two entries). A pattern that does not compile is cached too, with the
// text regerror gave, so that every evaluation still reports the same error. Bounded: beyond
// `capacity` entries the least recently used one is freed (regfree). Not thread-safe: one cache per
// thread; match() uses the calling thread's (thread_regex_cache()), freed when the thread ends.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include <regex.h>

#include "conf/result.h"

namespace cubby::sieve {

// One regcomp'd pattern; owns its regex_t (regfree'd on destruction). Neither copied nor moved:
// the regex_t holds pointers into itself on some C libraries.
class CompiledRegex {
 public:
  // Compiles `pattern` with `flags` (REG_EXTENDED, REG_ICASE, REG_NOSUB); see ok()/error().
  CompiledRegex(const std::string& pattern, int flags);
  ~CompiledRegex();
  CompiledRegex(const CompiledRegex&) = delete;
  CompiledRegex& operator=(const CompiledRegex&) = delete;

  bool ok() const { return ok_; }
  // Why it did not compile: "bad regular expression \"<pattern>\": <regerror text>".
  const std::string& error() const { return error_; }
  // Valid only when ok(). regexec takes it const; its matcher state is per call.
  const regex_t& regex() const { return re_; }

 private:
  regex_t re_;
  bool ok_ = false;
  std::string error_;
};

class RegexCache {
 public:
  static constexpr size_t kDefaultCapacity = 256;
  explicit RegexCache(size_t capacity = kDefaultCapacity) : capacity_(capacity ? capacity : 1) {}

  // The compiled `pattern` under `flags`, compiled now on a miss. The reference stays valid until
  // the next call (which may evict it).
  const CompiledRegex& get(std::string_view pattern, int flags);

  size_t size() const { return by_key_.size(); }
  size_t capacity() const { return capacity_; }
  size_t compiles() const { return compiles_; }  // misses since construction

 private:
  struct Entry {
    std::string key;
    std::unique_ptr<CompiledRegex> regex;
  };
  size_t capacity_;
  size_t compiles_ = 0;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> by_key_;
};

// The calling thread's cache (what match() uses for :regex).
RegexCache& thread_regex_cache();

}  // namespace cubby::sieve
