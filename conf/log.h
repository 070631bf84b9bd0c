// Logging: syslog (facility mail) for programs running as services, stderr in the foreground.
//
// Every program calls init() once with its ident ("cubby/lmtpd", "cubby/master", ...). Lines are
// printf-formatted; with stderr they are prefixed by the ident and pid so several processes can
// share a terminal. This sits in conf/ because every other folder may log.
#pragma once

#include <syslog.h>

#include <string>

namespace cubby::log {

// to_stderr: write to stderr instead of syslog (the -D foreground mode, and tests). A process whose
// environment has CUBBY_LOG_STDERR=1 (set by cubby-master -D for its children) logs to stderr too.
void init(const std::string& ident, bool to_stderr);
// At or above this priority lines are written (default LOG_INFO; LOG_DEBUG with debug on).
void set_level(int priority);

void write(int priority, const char* format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace cubby::log

#define CUBBY_LOG_ERR(...) ::cubby::log::write(LOG_ERR, __VA_ARGS__)
#define CUBBY_LOG_WARNING(...) ::cubby::log::write(LOG_WARNING, __VA_ARGS__)
#define CUBBY_LOG_NOTICE(...) ::cubby::log::write(LOG_NOTICE, __VA_ARGS__)
#define CUBBY_LOG_INFO(...) ::cubby::log::write(LOG_INFO, __VA_ARGS__)
#define CUBBY_LOG_DEBUG(...) ::cubby::log::write(LOG_DEBUG, __VA_ARGS__)
