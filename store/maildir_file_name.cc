// Unique Maildir names and their size fields; see maildir_file_name.h.
#include "store/maildir_file_name.h"

#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>

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

MaildirNamer::MaildirNamer(std::string hostname) {
  if (hostname.empty()) {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) == 0) hostname = name;
  }
  host_ = maildir_host(hostname);
}

std::string MaildirNamer::next(const MessageSizes& sizes) {
  struct timeval tv;
  ::gettimeofday(&tv, nullptr);
  uint64_t random = 0;
  if (::getrandom(&random, sizeof random, 0) != static_cast<ssize_t>(sizeof random)) {
    // No entropy (should not happen after boot): the counter and the time still separate names
    // within this process; mix in the address of a stack variable for another process.
    random = static_cast<uint64_t>(tv.tv_usec) ^ reinterpret_cast<uintptr_t>(&tv);
  }
  const uint64_t count = counter_.fetch_add(1, std::memory_order_relaxed);
  char head[160];
  std::snprintf(head, sizeof head, "%lld.M%06ldP%ldQ%lluR%016llx.",
                static_cast<long long>(tv.tv_sec), static_cast<long>(tv.tv_usec),
                static_cast<long>(::getpid()), static_cast<unsigned long long>(count),
                static_cast<unsigned long long>(random));
  return head + host_ + ",S=" + std::to_string(sizes.bytes) +
         ",W=" + std::to_string(sizes.crlf_bytes);
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
