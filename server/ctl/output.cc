// Tables, JSON, patterns and exit codes for cubbyctl; see output.h.
#include "server/ctl/output.h"

#include <cstdio>
#include <ctime>
#include <algorithm>

namespace cubby::ctl {

int exit_code(const store::Error& error) {
  switch (error.code) {
    case store::Errc::kNotFound:
      return kNotFound;
    case store::Errc::kExists:
      return kExists;
    case store::Errc::kBadName:
      return kUsage;
    default:
      return kFailed;
  }
}

int report(const store::Error& error) { return complain(exit_code(error), error.detail); }

int complain(int code, const std::string& message) {
  fprintf(stderr, "cubbyctl: %s\n", message.c_str());
  return code;
}


void JsonObject::key(std::string_view k) {
  if (!body_.empty()) body_ += ',';
  body_ += json_string(k) + ":";
}
JsonObject& JsonObject::add(std::string_view k, std::string_view value) {
  key(k);
  body_ += json_string(value);
  return *this;
}
JsonObject& JsonObject::add(std::string_view k, int64_t value) {
  key(k);
  body_ += std::to_string(value);
  return *this;
}
JsonObject& JsonObject::add(std::string_view k, uint64_t value) {
  key(k);
  body_ += std::to_string(value);
  return *this;
}
JsonObject& JsonObject::add(std::string_view k, bool value) {
  key(k);
  body_ += value ? "true" : "false";
  return *this;
}
JsonObject& JsonObject::add(std::string_view k, double value) {
  key(k);
  char buf[32];
  snprintf(buf, sizeof buf, "%.3f", value);
  body_ += buf;
  return *this;
}
JsonObject& JsonObject::add_null(std::string_view k) {
  key(k);
  body_ += "null";
  return *this;
}
JsonObject& JsonObject::add_raw(std::string_view k, std::string_view json) {
  key(k);
  body_ += json;
  return *this;
}

std::string json_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
  return out + "]";
}

namespace {

bool numeric(const std::string& cell) {
  if (cell.empty()) return false;
  for (char c : cell) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == '%' || c == '-')) return false;
  }
  return true;
}

// Display width: UTF-8 continuation bytes take no column.
size_t width(const std::string& s) {
  size_t w = 0;
  for (unsigned char c : s) w += (c & 0xc0) != 0x80;
  return w;
}

}  // namespace

std::string Table::str() const {
  std::vector<size_t> widths;
  std::vector<char> right;  // a column of numbers only (below its header) is right-aligned
  for (size_t r = 0; r < rows_.size(); ++r) {
    const auto& row = rows_[r];
    if (widths.size() < row.size()) {
      widths.resize(row.size(), 0);
      right.resize(row.size(), 1);
    }
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], width(row[i]));
      if (r > 0 && !numeric(row[i])) right[i] = 0;
    }
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const std::string& cell = row[i];
      const std::string pad(widths[i] - width(cell), ' ');
      const bool last = i + 1 == row.size();
      if (i) line += "  ";
      line += right[i] ? pad + cell : cell + (last ? "" : pad);
    }
    out += line + "\n";
  }
  return out;
}

bool glob_match(std::string_view pattern, std::string_view name, char sep) {
  // can[j]: the pattern so far matches name[0, j). One row per pattern character: O(P * N).
  std::vector<char> can(name.size() + 1, 0), next(name.size() + 1, 0);
  can[0] = 1;
  for (char pc : pattern) {
    std::fill(next.begin(), next.end(), 0);
    if (pc == '*' || pc == '%') {
      bool reach = false;
      for (size_t j = 0; j <= name.size(); ++j) {
        if (can[j]) reach = true;
        next[j] = reach;
        if (pc == '%' && j < name.size() && name[j] == sep) reach = false;
      }
    } else {
      for (size_t j = 0; j < name.size(); ++j) next[j + 1] = can[j] && name[j] == pc;
    }
    can.swap(next);
  }
  return can[name.size()];
}

std::string human_bytes(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes) / 1024;
  int u = 0;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

std::string human_time(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  localtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace cubby::ctl
