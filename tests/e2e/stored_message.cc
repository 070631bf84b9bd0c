// Test messages and the expected stored form; see stored_message.h.
#include "tests/e2e/stored_message.h"

#include <xxhash.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

namespace cubby::e2e {

std::string test_message(const std::string& message_id, int body_lines) {
  std::string m;
  m += "From: Sender <sender@example.org>\r\n";
  m += "To: Recipients <undisclosed@example.org>\r\n";
  m += "Subject: e2e " + message_id + "\r\n";
  m += "Message-ID: <" + message_id + ">\r\n";
  m += "Date: Mon, 1 Jan 2024 12:00:00 +0000\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "\r\n";
  for (int i = 0; i < body_lines; ++i) {
    if (i % 7 == 3) {
      m += ".a line that starts with a dot, number " + std::to_string(i) + "\r\n";
    } else if (i % 7 == 5) {
      m += "..two dots, number " + std::to_string(i) + "\r\n";
    } else {
      m += "line " + std::to_string(i) + " of the body of " + message_id + "\r\n";
    }
  }
  return m;
}

size_t trace_length(std::string_view stored) {
  static const std::regex trace(
      "Return-Path: <[^>\r\n]*>\r\n"
      "Received: from [^\r\n]*\r\n"
      "\t by e2e\\.test \\(Cubby " CUBBY_VERSION
      "\\) with LMTPA?;\r\n"
      "\t (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
      "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
      "[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\r\n");
  std::string_view head = stored.substr(0, 1024);
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(head.begin(), head.end(), m, trace,
                         std::regex_constants::match_continuous))
    return 0;
  return static_cast<size_t>(m.length(0));
}

std::string check_stored(std::string_view stored, const std::string& from,
                         const std::string& client_host, std::string_view content) {
  const std::string return_path = "Return-Path: <" + from + ">\r\n";
  if (stored.substr(0, return_path.size()) != return_path) {
    return "does not start with " + return_path + ": " + std::string(stored.substr(0, 200));
  }
  const std::string received = "Received: from e2e.client (" + client_host + ")\r\n";
  if (stored.substr(return_path.size(), received.size()) != received) {
    return "no \"" + received + "\" after Return-Path: " + std::string(stored.substr(0, 300));
  }
  const size_t trace = trace_length(stored);
  if (trace == 0) return "trace headers do not match: " + std::string(stored.substr(0, 300));
  if (stored.find(" with LMTPA;\r\n", return_path.size()) > trace) {
    return "Received does not say LMTPA: " + std::string(stored.substr(0, trace));
  }
  std::string_view rest = stored.substr(trace);
  if (rest.size() != content.size()) {
    return "content is " + std::to_string(rest.size()) + " bytes, sent " +
           std::to_string(content.size());
  }
  if (rest != content) {
    size_t i = 0;
    while (i < rest.size() && rest[i] == content[i]) ++i;
    return "content differs at byte " + std::to_string(i) + ": stored \"" +
           std::string(rest.substr(i, 60)) + "\", sent \"" + std::string(content.substr(i, 60)) +
           "\"";
  }
  return "";
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<struct stat> stat_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return st;
}

std::string guid_of(std::string_view bytes) {
  XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  char buf[33];
  snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
           static_cast<unsigned long long>(h.low64));
  return buf;
}

}  // namespace cubby::e2e
