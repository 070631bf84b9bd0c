// A temporary Maildir partition directory for the Maildir unit tests, removed at the end, with
// small helpers to write and read files in it.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "store/maildir_quota.h"

namespace cubby::store {
// For readable failures.
inline void PrintTo(const MaildirUsage& u, std::ostream* os) {
  *os << "{bytes " << u.bytes << ", messages " << u.messages << "}";
}
inline void PrintTo(const MaildirQuotaLimits& l, std::ostream* os) {
  *os << "{bytes " << l.bytes << ", messages " << l.messages << "}";
}
}  // namespace cubby::store

namespace cubby::store::testing {

class MaildirPartition {
 public:
  MaildirPartition() {
    char tmpl[] = "/tmp/cubby-maildir-XXXXXX";
    root_ = ::mkdtemp(tmpl);
  }
  ~MaildirPartition() { std::filesystem::remove_all(root_); }
  const std::string& root() const { return root_; }
  std::string path(const std::string& rel) const { return root_ + "/" + rel; }
  void write(const std::string& rel, const std::string& content) const {
    std::filesystem::create_directories(std::filesystem::path(path(rel)).parent_path());
    std::ofstream(path(rel), std::ios::binary | std::ios::trunc) << content;
  }
  std::string read(const std::string& rel) const {
    std::ifstream in(path(rel), std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  bool is_dir(const std::string& rel) const {
    return std::filesystem::is_directory(std::filesystem::symlink_status(path(rel)));
  }
  bool exists(const std::string& rel) const {
    return std::filesystem::exists(std::filesystem::symlink_status(path(rel)));
  }

 private:
  std::string root_;
};

}  // namespace cubby::store::testing
