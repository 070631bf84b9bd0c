// Binding a service address with its directories and permissions; see master_listen.h.
#include "server/master/master_listen.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cubby::server {
namespace {

// Creates `dir` and its missing parents with mode 0755 (a UNIX socket's directory).
std::optional<std::string> make_directories(const std::string& dir,
                                            std::optional<std::pair<uid_t, gid_t>> owner) {
  struct stat st;
  if (dir.empty() || stat(dir.c_str(), &st) == 0) return std::nullopt;
  auto slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (auto e = make_directories(dir.substr(0, slash), owner)) return e;
  }
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return "cannot create directory " + dir + ": " + strerror(errno);
  chmod(dir.c_str(), 0755);
  if (owner && chown(dir.c_str(), owner->first, owner->second) != 0)
    return "cannot give directory " + dir + " to uid " + std::to_string(owner->first) + ": " +
           strerror(errno);
  return std::nullopt;
}

// Gives a UNIX socket the owner and group of its entry ("" = leave as created).
std::optional<std::string> set_owner(const std::string& path, const std::string& owner,
                                     const std::string& group) {
  if (owner.empty() && group.empty()) return std::nullopt;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  if (!owner.empty()) {
    struct passwd* pw = getpwnam(owner.c_str());
    if (!pw) return "unknown user \"" + owner + "\"";
    uid = pw->pw_uid;
  }
  if (!group.empty()) {
    struct group* gr = getgrnam(group.c_str());
    if (!gr) return "unknown group \"" + group + "\"";
    gid = gr->gr_gid;
  }
  if (chown(path.c_str(), uid, gid) != 0)
    return "cannot change the owner of " + path + ": " + strerror(errno);
  return std::nullopt;
}

}  // namespace

Result<int, std::string> open_listener(const ListenTarget& target,
                                       std::optional<std::pair<uid_t, gid_t>> dirs_owner) {
  const conf::ListenAddress& addr = target.address;
  if (addr.is_unix) {
    auto slash = addr.path.rfind('/');
    if (slash != std::string::npos && slash > 0) {
      if (auto e = make_directories(addr.path.substr(0, slash), dirs_owner)) return fail(*e);
    }
  }
  auto fd = conf::bind_listener(addr, target.backlog, target.mode ? target.mode : 0660);
  if (!fd) return fd;
  if (addr.is_unix) {
    if (auto e = set_owner(addr.path, target.owner, target.group)) {
      close(*fd);
      unlink(addr.path.c_str());
      return fail(*e);
    }
  }
  return fd;
}

}  // namespace cubby::server
