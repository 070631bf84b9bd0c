// The sievedir layout; see script_store.h.
#include "sievedir/script_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace cubby::sievedir {
namespace {

constexpr const char* kActiveLink = "defaultbc";

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

std::optional<std::string> make_dirs(const std::string& path) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) return errno_text("mkdir " + partial);
  }
  return std::nullopt;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

char ScriptStore::hash_letter(const std::string& name) {
  if (name.empty()) return 'q';
  const unsigned char c = static_cast<unsigned char>(name[0]);
  const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
  return (lower >= 'a' && lower <= 'z') ? lower : 'q';
}

bool ScriptStore::valid_name(const std::string& name) {
  if (name.empty() || name.size() > 255 || name[0] == '.') return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

std::string ScriptStore::user_dir(const std::string& user) const {
  const auto at = user.find('@');
  if (at == std::string::npos) return root_ + "/" + hash_letter(user) + "/" + user;
  const std::string local = user.substr(0, at), domain = user.substr(at + 1);
  return root_ + "/domain/" + hash_letter(domain) + "/" + domain + "/" + hash_letter(local) + "/" +
         local;
}

std::optional<ScriptFile> stat_script(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return ScriptFile{path,
                    static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
                    static_cast<int64_t>(st.st_size), static_cast<uint64_t>(st.st_ino),
                    static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec};
}

std::string ScriptFile::version() const {
  return path + "\n" + std::to_string(mtime_ns) + "\n" + std::to_string(size) + "\n" +
         std::to_string(inode) + "\n" + std::to_string(ctime_ns);
}

Result<std::string, std::string> read_file(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return fail(errno_text(path));
  std::string out;
  char buf[8192];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string e = errno_text(path);
      close(fd);
      return fail(e);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

std::optional<std::string> ScriptStore::active_name(const std::string& user) const {
  const std::string link = user_dir(user) + "/" + kActiveLink;
  char target[4096];
  const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
  if (n <= 0) return std::nullopt;
  std::string name(target, static_cast<size_t>(n));
  if (const auto slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
  if (ends_with(name, ".bc")) name.resize(name.size() - 3);
  if (!valid_name(name)) return std::nullopt;
  return name;
}

std::optional<ScriptFile> ScriptStore::active(const std::string& user) const {
  auto name = active_name(user);
  if (!name) return std::nullopt;
  return personal(user, *name);
}

std::optional<ScriptFile> ScriptStore::personal(const std::string& user,
                                                const std::string& name) const {
  if (!valid_name(name)) return std::nullopt;
  return stat_script(user_dir(user) + "/" + name + ".script");
}

std::optional<ScriptFile> ScriptStore::global(const std::string& name) const {
  if (!valid_name(name)) return std::nullopt;
  return stat_script(global_dir() + "/" + name + ".script");
}

Result<std::vector<ScriptInfo>, std::string> ScriptStore::list(const std::string& user) const {
  std::vector<ScriptInfo> out;
  const std::string dir = user_dir(user);
  DIR* d = opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return fail(errno_text(dir));
  }
  const auto active = active_name(user);
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (!ends_with(name, ".script")) continue;
    name.resize(name.size() - 7);
    if (!valid_name(name)) continue;
    out.push_back({name, active && *active == name});
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

std::optional<std::string> ScriptStore::put(const std::string& user, const std::string& name,
                                            const std::string& source, int max_scripts) const {
  if (!valid_name(name)) return "bad script name \"" + name + "\"";
  const std::string dir = user_dir(user);
  if (auto e = make_dirs(dir)) return e;
  if (!personal(user, name)) {
    auto scripts = list(user);
    if (!scripts.ok()) return scripts.error();
    if (static_cast<int>(scripts->size()) >= max_scripts) {
      return "too many scripts (sieve_maxscripts " + std::to_string(max_scripts) + ")";
    }
  }
  const std::string final_path = dir + "/" + name + ".script";
  const std::string temp = dir + "/." + name + ".script.NEW";
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return errno_text(temp);
  size_t done = 0;
  while (done < source.size()) {
    const ssize_t n = write(fd, source.data() + done, source.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string e = errno_text(temp);
      close(fd);
      unlink(temp.c_str());
      return e;
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    const std::string e = errno_text(temp);
    unlink(temp.c_str());
    return e;
  }
  if (rename(temp.c_str(), final_path.c_str()) != 0) {
    const std::string e = errno_text(final_path);
    unlink(temp.c_str());
    return e;
  }
  return std::nullopt;
}

std::optional<std::string> ScriptStore::activate(const std::string& user,
                                                 const std::string& name) const {
  if (!personal(user, name)) return "no script \"" + name + "\"";
  const std::string dir = user_dir(user);
  const std::string temp = dir + "/." + kActiveLink + ".NEW";
  unlink(temp.c_str());
  if (symlink((name + ".bc").c_str(), temp.c_str()) != 0) return errno_text(temp);
  if (rename(temp.c_str(), (dir + "/" + kActiveLink).c_str()) != 0) {
    const std::string e = errno_text(dir + "/" + kActiveLink);
    unlink(temp.c_str());
    return e;
  }
  return std::nullopt;
}

std::optional<std::string> ScriptStore::deactivate(const std::string& user) const {
  const std::string link = user_dir(user) + "/" + kActiveLink;
  if (unlink(link.c_str()) != 0 && errno != ENOENT) return errno_text(link);
  return std::nullopt;
}

std::optional<std::string> ScriptStore::remove(const std::string& user,
                                               const std::string& name) const {
  if (!personal(user, name)) return "no script \"" + name + "\"";
  if (auto active = active_name(user); active && *active == name) {
    return "script \"" + name + "\" is active: deactivate it first";
  }
  const std::string dir = user_dir(user);
  if (unlink((dir + "/" + name + ".script").c_str()) != 0) return errno_text(name + ".script");
  unlink((dir + "/" + name + ".bc").c_str());  // Cyrus's bytecode of it, if any
  return std::nullopt;
}

}  // namespace cubby::sievedir
