// Unique Maildir names and their size fields; see maildir_file_name.h.
#include "store/maildir_file_name.h"

#include <pthread.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>

namespace cubby::store {

void MessageSizeCounter::add(std::string_view piece) {
  sizes_.bytes += piece.size();
  sizes_.crlf_bytes += piece.size();
  for (char c : piece) {
    if (c == '\n' && !last_was_cr_) ++sizes_.crlf_bytes;
    last_was_cr_ = c == '\r';
  }
}

std::string maildir_host(std::string_view hostname) {
  if (hostname.empty()) return "localhost";
  std::string out;
  for (char c : hostname) {
    if (c == '/') {
      out += "\\057";
    } else if (c == ':') {
      out += "\\072";
    } else if (c == ',') {
      out += "\\054";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

// The R= part: 64 random bits drawn once per process (again in a child after fork()), mixed with a
// counter of every name this process made, so that a name costs no getrandom() or getpid() call
// and two names of one process never share it. A bijection (splitmix64's finalizer) of a distinct
// sum keeps distinct names distinct.
struct ProcessSeed {
  std::mutex mutex;
  uint64_t generation = 0;  // equal to forks_seen when pid and random belong to this process
  long pid = 0;
  uint64_t random = 0;
};
ProcessSeed& process_seed() {
  static ProcessSeed seed;
  return seed;
}
std::atomic<uint64_t> forks_seen{1};        // bumped in every child after fork()
std::atomic<uint64_t> names_made{0};        // by every namer of this process

uint64_t mix(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// This process's pid and random bits, drawn on first use and after a fork().
void seed_of_this_process(long* pid, uint64_t* random) {
  ProcessSeed& seed = process_seed();
  std::lock_guard<std::mutex> lock(seed.mutex);
  const uint64_t generation = forks_seen.load();
  if (seed.generation != generation) {
    seed.pid = static_cast<long>(::getpid());
    if (::getrandom(&seed.random, sizeof seed.random, 0) !=
        static_cast<ssize_t>(sizeof seed.random)) {
      // No entropy (should not happen after boot): the time and an address still differ.
      struct timeval tv;
      ::gettimeofday(&tv, nullptr);
      seed.random = (static_cast<uint64_t>(tv.tv_sec) << 20) ^
                    static_cast<uint64_t>(tv.tv_usec) ^ reinterpret_cast<uintptr_t>(&tv);
    }
    seed.generation = generation;
  }
  *pid = seed.pid;
  *random = seed.random;
}

}  // namespace

MaildirNamer::MaildirNamer(std::string hostname) {
  if (hostname.empty()) {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) == 0) hostname = name;
  }
  host_ = maildir_host(hostname);
  static const bool fork_handler = [] {
    ::pthread_atfork(nullptr, nullptr, [] { forks_seen.fetch_add(1); });
    return true;
  }();
  (void)fork_handler;
}

std::string MaildirNamer::next(const MessageSizes& sizes) {
  struct timeval tv;
  ::gettimeofday(&tv, nullptr);
  long pid = 0;
  uint64_t random = 0;
  seed_of_this_process(&pid, &random);
  const uint64_t count = counter_.fetch_add(1, std::memory_order_relaxed);
  const uint64_t made = names_made.fetch_add(1, std::memory_order_relaxed);
  char head[160];
  std::snprintf(head, sizeof head, "%lld.M%06ldP%ldQ%lluR%016llx.",
                static_cast<long long>(tv.tv_sec), static_cast<long>(tv.tv_usec), pid,
                static_cast<unsigned long long>(count),
                static_cast<unsigned long long>(mix(random + made)));
  std::string name;
  name.reserve(200);
  name += head;
  name += host_;
  name += ",S=";
  name += std::to_string(sizes.bytes);
  name += ",W=";
  name += std::to_string(sizes.crlf_bytes);
  return name;
}

std::string_view maildir_base_name(std::string_view name) {
  size_t info = name.find(":2,");
  return info == std::string_view::npos ? name : name.substr(0, info);
}

std::string_view maildir_flags(std::string_view name) {
  size_t info = name.find(":2,");
  return info == std::string_view::npos ? std::string_view() : name.substr(info + 3);
}

std::optional<uint64_t> maildir_name_field(std::string_view name, char key) {
  const std::string_view base = maildir_base_name(name);
  const char field[] = {',', key, '=', '\0'};
  for (size_t at = base.find(field); at != std::string_view::npos; at = base.find(field, at + 1)) {
    size_t i = at + 3;
    uint64_t value = 0;
    size_t digits = 0;
    bool overflow = false;
    while (i < base.size() && base[i] >= '0' && base[i] <= '9') {
      if (value > (UINT64_MAX - 9) / 10) overflow = true;
      value = value * 10 + static_cast<uint64_t>(base[i] - '0');
      ++i;
      ++digits;
    }
    const bool ends = i == base.size() || base[i] == ',' || base[i] == ':';
    if (digits > 0 && ends && !overflow) return value;
  }
  return std::nullopt;
}

}  // namespace cubby::store
