// Logging to syslog or stderr; see log.h.
#include "conf/log.h"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace cubby::log {
namespace {

std::string g_ident = "cubby";
bool g_stderr = true;
int g_level = LOG_INFO;
std::mutex g_mutex;  // the committer thread logs too; keep stderr lines whole

}  // namespace

void init(const std::string& ident, bool to_stderr) {
  if (const char* env = getenv("CUBBY_LOG_STDERR"); env && env[0] == '1') to_stderr = true;
  g_ident = ident;
  g_stderr = to_stderr;
  if (!to_stderr) openlog(g_ident.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void set_level(int priority) { g_level = priority; }

void write(int priority, const char* format, ...) {
  if (priority > g_level) return;
  va_list args;
  va_start(args, format);
  if (!g_stderr) {
    vsyslog(LOG_MAIL | priority, format, args);
  } else {
    char line[4096];
    vsnprintf(line, sizeof line, format, args);
    std::lock_guard lock(g_mutex);
    fprintf(stderr, "%s[%d]: %s\n", g_ident.c_str(), static_cast<int>(getpid()), line);
  }
  va_end(args);
}

}  // namespace cubby::log
