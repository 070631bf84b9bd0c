// The master's pidfile and ready file.
//
// The pidfile holds the master's pid and stays locked (fcntl write lock) while the master runs, so
// a second master on the same configuration refuses to start instead of stealing its sockets. The
// ready file is written once every service is listening and its first workers are started, for
// scripts and tests that wait for the master.
#pragma once

#include <memory>
#include <string>

#include "conf/result.h"

namespace cubby::server {

class PidFile {
 public:
  // Creates or opens `path`, locks it and writes our pid. Fails with a message if the file cannot
  // be written or another process holds the lock ("... is locked by pid N").
  static Result<std::unique_ptr<PidFile>, std::string> acquire(const std::string& path);
  // Removes the file while still holding the lock, then releases it.
  ~PidFile();
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

 private:
  PidFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

// Writes "<pid>\n" to `path` atomically (a temporary file renamed over it).
Result<bool, std::string> write_ready_file(const std::string& path);

// Replaces `path` with `content` atomically: `<path>.tmp` (mode `mode`, whatever the umask) is
// written and renamed over it. The error names the file and the reason.
Result<bool, std::string> replace_file(const std::string& path, const std::string& content,
                                       int mode = 0644);

}  // namespace cubby::server
