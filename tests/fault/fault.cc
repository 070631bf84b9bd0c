// libcubby_fault.so: an LD_PRELOAD interposer that makes the disk fail on purpose, for the
// reliability tests (docs/reliability.md).
//
// Only calls on paths under $CUBBY_FAULT_ROOT are touched (for a descriptor, the path
// /proc/self/fd/N names; an O_TMPFILE file counts as inside its directory). A rule says which
// calls fail, with which errno, and when:
//
//   <calls>:<errno>[:after=N][:prob=P][:seed=S]
//   calls  '+'-separated: write (write, pwrite, pwrite64, writev), fsync, fdatasync,
//          link (link, linkat), rename (rename, renameat, renameat2), open (open/openat that
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

namespace {

enum Call : unsigned { kWrite = 1, kFsync = 2, kFdatasync = 4, kLink = 8, kRename = 16, kOpen = 32 };

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
  size_t n = strlen(r);
  while (n > 1 && r[n - 1] == '/') --n;
  if (strncmp(path, r, n) != 0) return false;
  return path[n] == '\0' || path[n] == '/';
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
  std::string off = std::string(root()) + "/.fault-off";
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
  return (flags & O_CREAT) || (flags & __O_TMPFILE) || (flags & O_ACCMODE) != O_RDONLY;
}

}  // namespace

extern "C" {

ssize_t write(int fd, const void* buf, size_t n) {
  static auto real = next<ssize_t (*)(int, const void*, size_t)>("write");
  if (root()) {
    if (int e = should_fail(kWrite, "write", fd_path(fd))) return errno = e, -1;
  }
  return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  static auto real = next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  if (root()) {
    if (int e = should_fail(kWrite, "pwrite", fd_path(fd))) return errno = e, -1;
  }
  return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) {
  static auto real = next<ssize_t (*)(int, const void*, size_t, off64_t)>("pwrite64");
  if (root()) {
    if (int e = should_fail(kWrite, "pwrite64", fd_path(fd))) return errno = e, -1;
  }
  return real(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  static auto real = next<ssize_t (*)(int, const struct iovec*, int)>("writev");
  if (root()) {
    if (int e = should_fail(kWrite, "writev", fd_path(fd))) return errno = e, -1;
  }
  return real(fd, iov, cnt);
}

int fsync(int fd) {
  static auto real = next<int (*)(int)>("fsync");
  if (root()) {
    if (int e = should_fail(kFsync, "fsync", fd_path(fd))) return errno = e, -1;
  }
  return real(fd);
}

int fdatasync(int fd) {
  static auto real = next<int (*)(int)>("fdatasync");
  if (root()) {
    if (int e = should_fail(kFdatasync, "fdatasync", fd_path(fd))) return errno = e, -1;
  }
  return real(fd);
}

int link(const char* from, const char* to) {
  static auto real = next<int (*)(const char*, const char*)>("link");
  if (root()) {
    if (int e = should_fail(kLink, "link", at_path(AT_FDCWD, to))) return errno = e, -1;
  }
  return real(from, to);
}

int linkat(int fromfd, const char* from, int tofd, const char* to, int flags) {
  static auto real = next<int (*)(int, const char*, int, const char*, int)>("linkat");
  if (root()) {
    if (int e = should_fail(kLink, "linkat", at_path(tofd, to))) return errno = e, -1;
  }
  return real(fromfd, from, tofd, to, flags);
}

int rename(const char* from, const char* to) {
  static auto real = next<int (*)(const char*, const char*)>("rename");
  if (root()) {
    if (int e = should_fail(kRename, "rename", at_path(AT_FDCWD, to))) return errno = e, -1;
  }
  return real(from, to);
}

int renameat(int fromfd, const char* from, int tofd, const char* to) {
  static auto real = next<int (*)(int, const char*, int, const char*)>("renameat");
  if (root()) {
    if (int e = should_fail(kRename, "renameat", at_path(tofd, to))) return errno = e, -1;
  }
  return real(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char* from, int tofd, const char* to, unsigned flags) {
  static auto real = next<int (*)(int, const char*, int, const char*, unsigned)>("renameat2");
  if (root()) {
    if (int e = should_fail(kRename, "renameat2", at_path(tofd, to))) return errno = e, -1;
  }
  return real(fromfd, from, tofd, to, flags);
}

static int open_common(const char* name, int dirfd, const char* path, int flags, mode_t mode,
                       int (*real)(int, const char*, int, ...)) {
  if (root() && opens_for_writing(flags)) {
    if (int e = should_fail(kOpen, name, at_path(dirfd, path))) return errno = e, -1;
  }
  return real(dirfd, path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
  static auto real = next<int (*)(int, const char*, int, ...)>("openat");
  mode_t mode = 0;
  if (flags & (O_CREAT | __O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  return open_common("openat", dirfd, path, flags, mode, real);
}

int open(const char* path, int flags, ...) {
  static auto real = next<int (*)(int, const char*, int, ...)>("openat");
  mode_t mode = 0;
  if (flags & (O_CREAT | __O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  return open_common("open", AT_FDCWD, path, flags, mode, real);
}

int open64(const char* path, int flags, ...) {
  static auto real = next<int (*)(int, const char*, int, ...)>("openat");
  mode_t mode = 0;
  if (flags & (O_CREAT | __O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  return open_common("open64", AT_FDCWD, path, flags, mode, real);
}

}  // extern "C"
