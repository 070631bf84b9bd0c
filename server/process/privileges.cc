// Switching to the service user; see privileges.h.
#include "server/process/privileges.h"

#include <ftw.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cubby::server {
namespace {

std::string quote(const std::string& s) { return "\"" + s + "\""; }
std::string errno_text() { return strerror(errno); }

// Where a setting's value came from: "" for the table default, else "file:line".
std::string origin_of(const conf::Settings& settings, const std::string& name) {
  for (const auto& e : settings.effective()) {
    if (e.name == name) return e.origin == "default" ? "" : e.origin;
  }
  return "";
}

// Keeps exactly CAP_NET_BIND_SERVICE in the permitted and effective sets (none inheritable).
bool keep_only_bind_capability() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[2] = {};
  data[CAP_NET_BIND_SERVICE / 32].permitted = 1u << (CAP_NET_BIND_SERVICE % 32);
  data[CAP_NET_BIND_SERVICE / 32].effective = 1u << (CAP_NET_BIND_SERVICE % 32);
  return syscall(SYS_capset, &header, data) == 0;
}

// mkdir -p: missing parents get 0755; the last component `mode`. Returns whether `dir` was made.
Result<bool, std::string> make_directory(const std::string& dir, mode_t mode) {
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return fail(dir + " exists and is not a directory");
    return false;
  }
  auto slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    auto parent = make_directory(dir.substr(0, slash), 0755);
    if (!parent) return parent;
  }
  if (mkdir(dir.c_str(), mode) != 0 && errno != EEXIST)
    return fail("cannot create " + dir + ": " + errno_text());
  chmod(dir.c_str(), mode);  // whatever the umask took away
  return true;
}

// nftw() takes no context argument.
uid_t g_chown_uid;
size_t g_chowned;
int g_chown_errno;
std::string g_chown_failed;

int chown_entry(const char* path, const struct stat* st, int, struct FTW*) {
  if (st->st_uid == g_chown_uid) return 0;
  if (lchown(path, g_chown_uid, static_cast<gid_t>(-1)) != 0) {
    g_chown_errno = errno;
    g_chown_failed = path;
    return 1;
  }
  ++g_chowned;
  return 0;
}

}  // namespace

Result<ServiceIdentity, std::string> resolve_service_identity(const conf::Settings& settings) {
  ServiceIdentity id;
  if (geteuid() != 0) return id;
  const std::string user = settings.get_string("cubby_user");
  const std::string group = settings.get_string("cubby_group");
  const std::string user_origin = origin_of(settings, "cubby_user");
  const std::string group_origin = origin_of(settings, "cubby_group");
  if (user.empty()) return fail(std::string("cubby_user is empty (") + user_origin + ")");

  struct passwd* pw = getpwnam(user.c_str());
  if (!pw) {
    if (!user_origin.empty())
      return fail("cubby_user " + quote(user) + " (" + user_origin + ") does not exist");
    id.kind = ServiceIdentity::Kind::kRootByDefault;
    id.warning = "running as root: the user " + quote(user) +
                 " does not exist (create it with `useradd --system " + user +
                 "`, or set cubby_user)";
    return id;
  }
  id.user = user;
  id.uid = pw->pw_uid;
  id.gid = pw->pw_gid;
  if (!group.empty()) {
    struct group* gr = getgrnam(group.c_str());
    if (!gr) return fail("cubby_group " + quote(group) + " (" + group_origin + ") does not exist");
    id.gid = gr->gr_gid;
  }
  struct group* gr = getgrgid(id.gid);
  id.group = gr ? gr->gr_name : std::to_string(id.gid);
  id.kind = id.uid == 0 ? ServiceIdentity::Kind::kUnchanged : ServiceIdentity::Kind::kSwitch;
  return id;
}

std::optional<std::string> switch_identity(const ServiceIdentity& id, bool keep_bind_capability) {
  if (id.kind != ServiceIdentity::Kind::kSwitch) return std::nullopt;
  const std::string who = id.user + ":" + id.group;
  if (initgroups(id.user.c_str(), id.gid) != 0)
    return "cannot switch to " + who + ": initgroups: " + errno_text();
  if (keep_bind_capability && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
    return "cannot switch to " + who + ": PR_SET_KEEPCAPS: " + errno_text();
  if (setresgid(id.gid, id.gid, id.gid) != 0)
    return "cannot switch to " + who + ": setresgid: " + errno_text();
  if (setresuid(id.uid, id.uid, id.uid) != 0)
    return "cannot switch to " + who + ": setresuid: " + errno_text();
  if (keep_bind_capability) {
    if (!keep_only_bind_capability())
      return "cannot keep CAP_NET_BIND_SERVICE as " + who + ": capset: " + errno_text();
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  }
  uid_t r, e, s;
  if (getresuid(&r, &e, &s) != 0 || r != id.uid || e != id.uid || s != id.uid)
    return "switching to " + who + " did not take";
  if (setuid(0) == 0) return "switching to " + who + " left a way back to root";
  return std::nullopt;
}

std::optional<std::string> root_refusal(const ServiceIdentity& id) {
  if (id.kind != ServiceIdentity::Kind::kSwitch) return std::nullopt;
  return "refusing to run as root: run lmtpd as " + id.user +
         " (inetd.conf's user field, User= in systemd) or under cubby-master, which switches to it";
}

Result<std::vector<std::string>, std::string> prepare_store_directories(
    const conf::Settings& settings, const ServiceIdentity& id) {
  std::vector<std::string> done;
  std::vector<std::pair<std::string, mode_t>> dirs = {
      {settings.get_string("configdirectory"), 0750}};
  for (const auto& [name, root] : settings.partitions()) dirs.push_back({root, 0700});
  const bool give = id.kind == ServiceIdentity::Kind::kSwitch && settings.get_bool("master_chown");
  for (const auto& [dir, mode] : dirs) {
    if (dir.empty()) continue;
    auto made = make_directory(dir, mode);
    if (!made) return fail(made.error());
    if (*made) done.push_back("created " + dir);
    if (!give) continue;
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) return fail("cannot stat " + dir + ": " + errno_text());
    if (*made) {
      if (chown(dir.c_str(), id.uid, id.gid) != 0)
        return fail("cannot give " + dir + " to " + id.user + ": " + errno_text());
      continue;
    }
    if (st.st_uid == id.uid) continue;
    g_chown_uid = id.uid;
    g_chowned = 0;
    g_chown_errno = 0;
    // Depth first: the top is done last, so an interrupted walk is done again next time.
    if (nftw(dir.c_str(), chown_entry, 64, FTW_PHYS | FTW_DEPTH | FTW_MOUNT) != 0) {
      std::string why = g_chown_errno ? strerror(g_chown_errno) : errno_text();
      return fail("cannot give " + dir + " to " + id.user + ": " +
                  (g_chown_failed.empty() ? dir : g_chown_failed) + ": " + why);
    }
    done.push_back("gave " + dir + " and " + std::to_string(g_chowned > 0 ? g_chowned - 1 : 0) +
                   " entries under it to " + id.user);
  }
  return done;
}

std::optional<std::string> become_service_user(const conf::Settings& settings) {
  auto id = resolve_service_identity(settings);
  if (!id) return id.error();
  // Without a service user a tool simply stays root (the master and lmtpd warn about it).
  if (id->kind != ServiceIdentity::Kind::kSwitch) return std::nullopt;
  auto prepared = prepare_store_directories(settings, *id);
  if (!prepared) return prepared.error();
  return switch_identity(*id, false);
}

}  // namespace cubby::server
