// What cubbyctl prints: aligned tables for people, JSON for scripts, and the exit codes scripts
// can trust.
//
// Exit codes (also in docs/mailboxes.md):
//   0  done (and, for check and verify, nothing wrong found)
//   1  problems found (check, verify, reconstruct, recover) or the operation failed (I/O, index)
//   2  what was named does not exist (mailbox, message, quota root)
//   3  the name is taken (mailbox create, rename)
//   64 usage: bad command line, mailbox name, rights or limit
//   78 configuration error
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "conf/json.h"
#include "store/error.h"

namespace cubby::ctl {

inline constexpr int kOk = 0, kFailed = 1, kNotFound = 2, kExists = 3, kUsage = 64, kConfig = 78;

// The exit code for a store error.
int exit_code(const store::Error& error);
// Prints "cubbyctl: <detail>" to stderr and returns exit_code(error).
int report(const store::Error& error);
// Prints "cubbyctl: <message>" to stderr and returns `code`.
int complain(int code, const std::string& message);

using conf::json_string;  // conf/json.h

// One JSON object, members in the order added.
class JsonObject {
 public:
  JsonObject& add(std::string_view key, std::string_view value);
  JsonObject& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  JsonObject& add(std::string_view key, int64_t value);
  JsonObject& add(std::string_view key, uint64_t value);
  JsonObject& add(std::string_view key, int value) { return add(key, int64_t{value}); }
  JsonObject& add(std::string_view key, bool value);
  JsonObject& add(std::string_view key, double value);
  JsonObject& add_null(std::string_view key);
  // `json` is already JSON (an object, an array).
  JsonObject& add_raw(std::string_view key, std::string_view json);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(std::string_view k);
  std::string body_;
};

// "[a,b,...]" from already-rendered JSON values.
std::string json_array(const std::vector<std::string>& items);

// Columns padded to their widest cell; a column whose cells are all numbers (digits, '.', '%',
// '-') is right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : rows_{std::move(headers)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  size_t size() const { return rows_.size() - 1; }
  std::string str() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Matches a mailbox name against a Cyrus pattern: '*' any characters, '%' any but the hierarchy
// separator `sep`.
bool glob_match(std::string_view pattern, std::string_view name, char sep);

// 1536 → "1.5 KiB"; below 1 KiB, "123 B".
std::string human_bytes(uint64_t bytes);
// Unix time → "2026-07-15 12:00:00" (local time).
std::string human_time(int64_t t);

}  // namespace cubby::ctl
