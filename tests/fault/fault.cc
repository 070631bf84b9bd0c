// libcubby_fault.so: an LD_PRELOAD interposer that makes the disk fail on purpose, for the
// reliability tests (docs/reliability.md).
//
// Only calls on paths under $CUBBY_FAULT_ROOT are touched (for a descriptor, the path
// /proc/self/fd/N names; an O_TMPFILE file counts as inside its directory). A rule says which
// calls fail, with which errno, and when:
//
//   <calls>:<errno>[:after=N][:prob=P][:seed=S]
//   calls  '+'-separated: write (write, pwrite, pwrite64, writev), fsync, fdatasync,
//          link (link(2): how messages are linked into mailboxes), linkat (how a stage file
//          gets its name), rename (rename, renameat, renameat2), open (open/openat that
//          create or write: O_CREAT, O_TMPFILE, O_WRONLY, O_RDWR)
//   errno  EIO, ENOSPC or EDQUOT
//   after  the first N matching calls (in this process, since the rule last changed) succeed
//   prob   each later matching call fails with probability P (default 1), drawn from a
//          generator seeded with S (default 1), so a run is reproducible
//
// The rule is the content of the file $CUBBY_FAULT_CONTROL when that variable is set (re-read on
// every matching call: empty or missing means no faults, so a test switches faults on and off,
// and changes them, while the server runs), else $CUBBY_FAULT_RULE. Whatever the rule, faults are
// off while the file $CUBBY_FAULT_ROOT/.fault-off exists. Each injected fault is reported on
// stderr as one line "cubby-fault: <call> <path>: <errno name>".
//
// Power-cut journal: when $CUBBY_FAULT_JOURNAL names a directory (on the same file system as the
// root, outside it), every change under the root is written ahead into <journal>/journal, one
// line per change, O_APPEND so that the processes' lines interleave in real order:
//   W <ino> <off> <len> <oldsize> <datafile> <dataoff> <oldlen>  a write; the bytes it overwrites
//                                                  are in <journal>/<datafile> at <dataoff>
//   T <ino> <newsize> <oldsize> <datafile> <dataoff> <oldlen>    ftruncate (the cut tail saved)
//   S <ino>                      fsync/fdatasync of a file succeeded: its earlier W/T are durable
//   C <dir> <name>               a name was created in directory <dir> (open O_CREAT, link,
//                                linkat, mkdir)
//   U <dir> <name> <shadow>      a name was removed; the inode stays reachable as <shadow>
//   R <dir> <name> <dir2> <name2> <shadow|->   a rename (and what it replaced)
//   D <dir>                      fsync of directory <dir> succeeded: its earlier entries durable
// <dir> is a directory's path. tests/e2e/power_cut.cc rolls a store back with it.
// Multiple roots may be given, separated by ':'.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <algorithm>
#include <utility>

namespace {

enum Call : unsigned {
  kWrite = 1, kFsync = 2, kFdatasync = 4, kLink = 8, kRename = 16, kOpen = 32, kLinkat = 64
};

struct Rule {
  unsigned calls = 0;
  int err = 0;
  unsigned long after = 0;
  double prob = 1.0;
  unsigned long seed = 1;
};

std::mutex g_mu;
std::string g_rule_text;  // the rule last parsed
Rule g_rule;
unsigned long g_count = 0;  // matching calls since the rule changed
std::mt19937_64 g_rng;

const char* root() {
  static const char* r = getenv("CUBBY_FAULT_ROOT");
  return r && *r ? r : nullptr;
}

bool under_root(const char* path) {
  const char* r = root();
  if (!r || !path) return false;
  while (*r) {
    const char* end = strchr(r, ':');
    size_t n = end ? static_cast<size_t>(end - r) : strlen(r);
    size_t m = n;
    while (m > 1 && r[m - 1] == '/') --m;
    if (m > 0 && strncmp(path, r, m) == 0 && (path[m] == '\0' || path[m] == '/')) return true;
    if (!end) break;
    r = end + 1;
  }
  return false;
}

std::string fd_path(int fd) {
  char link[64], buf[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, buf, sizeof buf - 1);
  if (n <= 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

// The path relative to the current directory or dirfd, made absolute where we can.
std::string at_path(int dirfd, const char* path) {
  if (!path) return "";
  if (path[0] == '/') return path;
  if (dirfd == AT_FDCWD) {
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) return path;
    return std::string(cwd) + "/" + path;
  }
  return fd_path(dirfd) + "/" + path;
}

int parse_errno(const std::string& s) {
  if (s == "EIO") return EIO;
  if (s == "ENOSPC") return ENOSPC;
  if (s == "EDQUOT") return EDQUOT;
  return atoi(s.c_str());
}

const char* errno_name(int e) {
  return e == EIO ? "EIO" : e == ENOSPC ? "ENOSPC" : e == EDQUOT ? "EDQUOT" : "errno";
}

Rule parse(const std::string& text) {
  Rule r;
  size_t pos = 0;
  int field = 0;
  while (pos <= text.size()) {
    size_t end = text.find(':', pos);
    if (end == std::string::npos) end = text.size();
    std::string f = text.substr(pos, end - pos);
    while (!f.empty() && (f.back() == '\n' || f.back() == ' ' || f.back() == '\r')) f.pop_back();
    if (field == 0) {
      size_t p = 0;
      while (p <= f.size()) {
        size_t e = f.find('+', p);
        if (e == std::string::npos) e = f.size();
        std::string c = f.substr(p, e - p);
        if (c == "write") r.calls |= kWrite;
        if (c == "fsync") r.calls |= kFsync;
        if (c == "fdatasync") r.calls |= kFdatasync;
        if (c == "link") r.calls |= kLink;
        if (c == "linkat") r.calls |= kLinkat;
        if (c == "rename") r.calls |= kRename;
        if (c == "open") r.calls |= kOpen;
        p = e + 1;
      }
    } else if (field == 1) {
      r.err = parse_errno(f);
    } else if (f.rfind("after=", 0) == 0) {
      r.after = strtoul(f.c_str() + 6, nullptr, 10);
    } else if (f.rfind("prob=", 0) == 0) {
      r.prob = strtod(f.c_str() + 5, nullptr);
    } else if (f.rfind("seed=", 0) == 0) {
      r.seed = strtoul(f.c_str() + 5, nullptr, 10);
    }
    ++field;
    pos = end + 1;
  }
  return r;
}

std::string current_rule_text() {
  const char* control = getenv("CUBBY_FAULT_CONTROL");
  if (!control || !*control) {
    const char* env = getenv("CUBBY_FAULT_RULE");
    return env ? env : "";
  }
  // Plain syscalls: our own wrappers must not see these reads.
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, control, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return "";
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

bool switched_off() {
  std::string first = root();
  first = first.substr(0, first.find(':'));
  std::string off = first + "/.fault-off";
  return access(off.c_str(), F_OK) == 0;
}

// 0: go ahead; otherwise the errno to fail with.
int should_fail(Call call, const char* what, const std::string& path) {
  if (!root() || !under_root(path.c_str())) return 0;
  if (switched_off()) return 0;
  std::string text = current_rule_text();
  std::lock_guard<std::mutex> lock(g_mu);
  if (text != g_rule_text) {
    g_rule_text = text;
    g_rule = parse(text);
    g_count = 0;
    g_rng.seed(g_rule.seed);
  }
  if (!(g_rule.calls & call) || g_rule.err == 0) return 0;
  if (++g_count <= g_rule.after) return 0;
  if (g_rule.prob < 1.0) {
    double x = std::uniform_real_distribution<double>(0.0, 1.0)(g_rng);
    if (x >= g_rule.prob) return 0;
  }
  char line[4200];
  int n = snprintf(line, sizeof line, "cubby-fault: %s %s: %s\n", what, path.c_str(),
                   errno_name(g_rule.err));
  if (n > 0) {
    ssize_t ignored = syscall(SYS_write, 2, line, static_cast<size_t>(n) < sizeof line ? n : 0);
    (void)ignored;
  }
  return g_rule.err;
}

template <typename F>
F next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

bool opens_for_writing(int flags) {
  return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE || (flags & O_ACCMODE) != O_RDONLY;
}


// ---- the power-cut journal ----
const char* journal_dir() {
  static const char* j = getenv("CUBBY_FAULT_JOURNAL");
  return j && *j ? j : nullptr;
}

std::mutex g_jmu;
int g_jfd = -1;
pid_t g_dpid = 0;
int g_dfd = -1;
std::string g_dname;
unsigned long long g_doff = 0, g_shadows = 0;

ssize_t raw_write(int fd, const void* buf, size_t n) { return syscall(SYS_write, fd, buf, n); }

void journal_line(const std::string& line) {
  if (g_jfd < 0) {
    std::string path = std::string(journal_dir()) + "/journal";
    g_jfd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path.c_str(),
                                     O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  }
  if (g_jfd >= 0) raw_write(g_jfd, line.data(), line.size());
}

// Saves `n` bytes into this process's data file; returns "<datafile> <offset>".
std::string save_bytes(const char* bytes, size_t n) {
  if (g_dpid != getpid()) {
    g_dpid = getpid();
    g_dname = "data." + std::to_string(g_dpid);
    std::string path = std::string(journal_dir()) + "/" + g_dname;
    g_dfd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    g_doff = 0;
    g_shadows = 0;
  }
  std::string where = g_dname + " " + std::to_string(g_doff);
  size_t done = 0;
  while (done < n && g_dfd >= 0) {
    ssize_t w = syscall(SYS_pwrite64, g_dfd, bytes + done, n - done, g_doff + done);
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
  g_doff += n;
  return where;
}

bool journaling(const std::string& path) { return journal_dir() && under_root(path.c_str()); }

// Before a write of `len` bytes at `off` (or at the end, or at the file position when off < 0).
void journal_write(int fd, long long off, size_t len, bool positional) {
  if (!journal_dir()) return;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  if (!journaling(fd_path(fd))) return;
  if (!positional) {
    int fl = fcntl(fd, F_GETFL);
    off = (fl >= 0 && (fl & O_APPEND)) ? st.st_size : lseek(fd, 0, SEEK_CUR);
    if (off < 0) return;
  }
  size_t old = off < st.st_size ? std::min<size_t>(len, static_cast<size_t>(st.st_size - off)) : 0;
  std::string buf(old, '\0');
  if (old > 0) {
    ssize_t r = syscall(SYS_pread64, fd, buf.data(), old, off);
    if (r < 0) r = 0;
    buf.resize(static_cast<size_t>(r));
    old = buf.size();
  }
  std::lock_guard<std::mutex> lock(g_jmu);
  std::string where = save_bytes(buf.data(), old);
  journal_line("W " + std::to_string(st.st_ino) + " " + std::to_string(off) + " " +
               std::to_string(len) + " " + std::to_string(st.st_size) + " " + where + " " +
               std::to_string(old) + "\n");
}

void journal_truncate(int fd, long long newsize) {
  if (!journal_dir()) return;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  if (!journaling(fd_path(fd))) return;
  size_t old = newsize < st.st_size ? static_cast<size_t>(st.st_size - newsize) : 0;
  std::string buf(old, '\0');
  if (old > 0) {
    ssize_t r = syscall(SYS_pread64, fd, buf.data(), old, newsize);
    buf.resize(r > 0 ? static_cast<size_t>(r) : 0);
    old = buf.size();
  }
  std::lock_guard<std::mutex> lock(g_jmu);
  std::string where = save_bytes(buf.data(), old);
  journal_line("T " + std::to_string(st.st_ino) + " " + std::to_string(newsize) + " " +
               std::to_string(st.st_size) + " " + where + " " + std::to_string(old) + "\n");
}

// After a successful fsync/fdatasync.
void journal_sync(int fd) {
  if (!journal_dir()) return;
  struct stat st;
  if (fstat(fd, &st) != 0) return;
  std::string path = fd_path(fd);
  if (!journaling(path)) return;
  std::lock_guard<std::mutex> lock(g_jmu);
  if (S_ISDIR(st.st_mode)) {
    journal_line("D " + path + "\n");
  } else if (S_ISREG(st.st_mode)) {
    journal_line("S " + std::to_string(st.st_ino) + "\n");
  }
}

std::pair<std::string, std::string> split(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

void journal_create(const std::string& path) {
  if (!journaling(path)) return;
  auto [dir, name] = split(path);
  std::lock_guard<std::mutex> lock(g_jmu);
  journal_line("C " + dir + " " + name + "\n");
}

// A hard link to `path` in the journal directory, so that a removal can be undone; "-" if none.
std::string shadow_of(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return "-";
  std::string name = "shadow." + std::to_string(getpid()) + "." + std::to_string(++g_shadows);
  std::string to = std::string(journal_dir()) + "/" + name;
  if (syscall(SYS_linkat, AT_FDCWD, path.c_str(), AT_FDCWD, to.c_str(), 0) != 0) return "-";
  return name;
}

void journal_unlink(const std::string& path) {
  if (!journaling(path)) return;
  std::lock_guard<std::mutex> lock(g_jmu);
  std::string shadow = shadow_of(path);
  if (shadow == "-") return;  // a directory or nothing: not modelled
  auto [dir, name] = split(path);
  journal_line("U " + dir + " " + name + " " + shadow + "\n");
}

void journal_rename(const std::string& from, const std::string& to) {
  if (!journaling(from) && !journaling(to)) return;
  std::lock_guard<std::mutex> lock(g_jmu);
  std::string shadow = shadow_of(to);
  auto [d1, n1] = split(from);
  auto [d2, n2] = split(to);
  journal_line("R " + d1 + " " + n1 + " " + d2 + " " + n2 + " " + shadow + "\n");
}

bool exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

}  // namespace

extern "C" {

#define FAIL_IF(call, name, path)                                   \
  do {                                                              \
    if (root()) {                                                   \
      if (int e_ = should_fail(call, name, path)) return errno = e_, -1; \
    }                                                               \
  } while (0)

ssize_t write(int fd, const void* buf, size_t n) {
  static auto real = next<ssize_t (*)(int, const void*, size_t)>("write");
  if (root()) {
    FAIL_IF(kWrite, "write", fd_path(fd));
    journal_write(fd, 0, n, false);
  }
  return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  static auto real = next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  if (root()) {
    FAIL_IF(kWrite, "pwrite", fd_path(fd));
    journal_write(fd, off, n, true);
  }
  return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) {
  static auto real = next<ssize_t (*)(int, const void*, size_t, off64_t)>("pwrite64");
  if (root()) {
    FAIL_IF(kWrite, "pwrite64", fd_path(fd));
    journal_write(fd, off, n, true);
  }
  return real(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  static auto real = next<ssize_t (*)(int, const struct iovec*, int)>("writev");
  if (root()) {
    FAIL_IF(kWrite, "writev", fd_path(fd));
    size_t n = 0;
    for (int i = 0; i < cnt; ++i) n += iov[i].iov_len;
    journal_write(fd, 0, n, false);
  }
  return real(fd, iov, cnt);
}

int ftruncate(int fd, off_t size) {
  static auto real = next<int (*)(int, off_t)>("ftruncate");
  if (root()) journal_truncate(fd, size);
  return real(fd, size);
}

int ftruncate64(int fd, off64_t size) {
  static auto real = next<int (*)(int, off64_t)>("ftruncate64");
  if (root()) journal_truncate(fd, size);
  return real(fd, size);
}

int fsync(int fd) {
  static auto real = next<int (*)(int)>("fsync");
  if (root()) FAIL_IF(kFsync, "fsync", fd_path(fd));
  int rc = real(fd);
  if (rc == 0 && root()) journal_sync(fd);
  return rc;
}

int fdatasync(int fd) {
  static auto real = next<int (*)(int)>("fdatasync");
  if (root()) FAIL_IF(kFdatasync, "fdatasync", fd_path(fd));
  int rc = real(fd);
  if (rc == 0 && root()) journal_sync(fd);
  return rc;
}

int link(const char* from, const char* to) {
  static auto real = next<int (*)(const char*, const char*)>("link");
  if (root()) {
    std::string target = at_path(AT_FDCWD, to);
    FAIL_IF(kLink, "link", target);
    if (!exists(target)) journal_create(target);
  }
  return real(from, to);
}

int linkat(int fromfd, const char* from, int tofd, const char* to, int flags) {
  static auto real = next<int (*)(int, const char*, int, const char*, int)>("linkat");
  if (root()) {
    std::string target = at_path(tofd, to);
    FAIL_IF(kLinkat, "linkat", target);
    if (!exists(target)) journal_create(target);
  }
  return real(fromfd, from, tofd, to, flags);
}

int unlink(const char* path) {
  static auto real = next<int (*)(const char*)>("unlink");
  if (root()) journal_unlink(at_path(AT_FDCWD, path));
  return real(path);
}

int unlinkat(int dirfd, const char* path, int flags) {
  static auto real = next<int (*)(int, const char*, int)>("unlinkat");
  if (root() && !(flags & AT_REMOVEDIR)) journal_unlink(at_path(dirfd, path));
  return real(dirfd, path, flags);
}

int rename(const char* from, const char* to) {
  static auto real = next<int (*)(const char*, const char*)>("rename");
  if (root()) {
    std::string target = at_path(AT_FDCWD, to);
    FAIL_IF(kRename, "rename", target);
    journal_rename(at_path(AT_FDCWD, from), target);
  }
  return real(from, to);
}

int renameat(int fromfd, const char* from, int tofd, const char* to) {
  static auto real = next<int (*)(int, const char*, int, const char*)>("renameat");
  if (root()) {
    std::string target = at_path(tofd, to);
    FAIL_IF(kRename, "renameat", target);
    journal_rename(at_path(fromfd, from), target);
  }
  return real(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char* from, int tofd, const char* to, unsigned flags) {
  static auto real = next<int (*)(int, const char*, int, const char*, unsigned)>("renameat2");
  if (root()) {
    std::string target = at_path(tofd, to);
    FAIL_IF(kRename, "renameat2", target);
    journal_rename(at_path(fromfd, from), target);
  }
  return real(fromfd, from, tofd, to, flags);
}

static int open_common(const char* name, int dirfd, const char* path, int flags, mode_t mode,
                       int (*real)(int, const char*, int, ...)) {
  if (root() && opens_for_writing(flags)) {
    std::string full = at_path(dirfd, path);
    FAIL_IF(kOpen, name, full);
    if ((flags & O_CREAT) && (flags & __O_TMPFILE) != __O_TMPFILE && !exists(full)) {
      journal_create(full);
    }
  }
  return real(dirfd, path, flags, mode);
}

static mode_t mode_arg(int flags, va_list ap) {
  if ((flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE) {
    return static_cast<mode_t>(va_arg(ap, int));
  }
  return 0;
}

int openat(int dirfd, const char* path, int flags, ...) {
  static auto real = next<int (*)(int, const char*, int, ...)>("openat");
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return open_common("openat", dirfd, path, flags, mode, real);
}

int openat64(int dirfd, const char* path, int flags, ...) {
  static auto real = next<int (*)(int, const char*, int, ...)>("openat");
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return open_common("openat64", dirfd, path, flags, mode, real);
}

int open(const char* path, int flags, ...) {
  static auto real = next<int (*)(int, const char*, int, ...)>("openat");
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return open_common("open", AT_FDCWD, path, flags, mode, real);
}

int open64(const char* path, int flags, ...) {
  static auto real = next<int (*)(int, const char*, int, ...)>("openat");
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return open_common("open64", AT_FDCWD, path, flags, mode, real);
}

}  // extern "C"
