// Re-hashing message files against the index; see verify.h.
#include "store/verify.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <map>

#include "store/fs.h"
#include "store/stage_file.h"

namespace cubby::store {

Result<FileDigest, Error> digest_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return fail(errno == ELOOP ? refused_link(path) : sys_error("open " + path));
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  FileDigest d;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      XXH3_freeState(state);
      return fail(sys_error("read " + path));
    }
    if (n == 0) break;
    XXH3_128bits_update(state, buf, static_cast<size_t>(n));
    d.size += static_cast<uint64_t>(n);
  }
  XXH128_hash_t h = XXH3_128bits_digest(state);
  XXH3_freeState(state);
  d.guid = guid_hex(h.high64, h.low64);
  return d;
}

VerifyReport verify(Store& store, const std::vector<std::string>& mailboxes) {
  VerifyReport r;
  std::vector<MailboxRecord> boxes;
  if (mailboxes.empty()) {
    boxes = store.index().list_mailboxes();
  } else {
    for (const auto& name : mailboxes) {
      if (auto m = store.index().find_mailbox(name)) boxes.push_back(*m);
    }
  }
  std::map<std::pair<dev_t, ino_t>, FileDigest> seen;
  for (const auto& box : boxes) {
    const std::string ext = store.external_name(box.name);
    for (const auto& m : store.index().messages(box.id)) {
      if (m.pending) continue;
      ++r.messages;
      const std::string path = store.message_path(box, m);
      const std::string where = ext + ": uid " + std::to_string(m.uid) + ": ";
      struct stat st;
      if (::stat(path.c_str(), &st) != 0) {
        if (!m.file.empty() && errno == ENOENT) continue;  // Maildir: expunged through Dovecot
        r.problems.push_back(where + "file " + path + " is missing");
        continue;
      }
      auto key = std::make_pair(st.st_dev, st.st_ino);
      auto it = seen.find(key);
      if (it == seen.end()) {
        auto d = digest_file(path);
        if (!d.ok()) {
          r.problems.push_back(where + d.error().detail);
          continue;
        }
        ++r.files;
        r.bytes += d->size;
        it = seen.emplace(key, d.value()).first;
      }
      const FileDigest& d = it->second;
      if (d.guid != m.guid) {
        r.problems.push_back(where + "XXH3 " + d.guid + " differs from the index's " + m.guid +
                             " (" + path + " changed on disk)");
      } else if (static_cast<int64_t>(d.size) != m.size) {
        r.problems.push_back(where + "file has " + std::to_string(d.size) + " bytes, index says " +
                             std::to_string(m.size));
      }
    }
  }
  return r;
}

}  // namespace cubby::store
