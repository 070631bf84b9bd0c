// Checking a local user's access to a UNIX socket; see socket_reach.h.
#include "server/master/socket_reach.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

namespace cubby::server {
namespace {

std::string owners(const struct stat& st) {
  struct passwd* pw = getpwuid(st.st_uid);
  struct group* gr = getgrgid(st.st_gid);
  char mode[8];
  snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return std::string(mode) + " " + (pw ? pw->pw_name : std::to_string(st.st_uid)) + ":" +
         (gr ? gr->gr_name : std::to_string(st.st_gid));
}

// The permission bits (of `want`, 1 = x, 2 = w) that apply to a user with `uid` and `groups`.
bool allowed(const struct stat& st, uid_t uid, const std::vector<gid_t>& groups, unsigned want) {
  unsigned bits = st.st_mode & 0777;
  if (st.st_uid == uid) return ((bits >> 6) & want) == want;
  for (gid_t g : groups) {
    if (g == st.st_gid) return ((bits >> 3) & want) == want;
  }
  return (bits & want) == want;
}

}  // namespace

std::optional<std::string> socket_unreachable_by(const std::string& path, const std::string& user) {
  struct passwd* pw = getpwnam(user.c_str());
  if (!pw || pw->pw_uid == 0) return std::nullopt;
  const uid_t uid = pw->pw_uid;
  std::vector<gid_t> groups(64);
  int n = static_cast<int>(groups.size());
  if (getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n) < 0) {
    groups.resize(static_cast<size_t>(n));
    if (getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n) < 0) return std::nullopt;
  }
  groups.resize(static_cast<size_t>(n));
  const std::string who = user + " (uid " + std::to_string(uid) + ") cannot connect to " + path;

  // Every directory from the root down needs search permission.
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) return std::nullopt;
    if (!allowed(st, uid, groups, 1)) return who + ": its directory " + dir + " is " + owners(st);
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  if (!allowed(st, uid, groups, 2)) return who + ": the socket is " + owners(st);
  return std::nullopt;
}

}  // namespace cubby::server
