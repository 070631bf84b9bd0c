// The Postfix interop fixture and the store checks; see fixture.h.
#include "tests/interop/postfix/fixture.h"

#include <pwd.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include "tests/e2e/stored_message.h"

namespace cubby::interop {
namespace {

std::string tail(const std::string& text, size_t max) {
  return text.size() <= max ? text : "...\n" + text.substr(text.size() - max);
}

bool iequals_prefix(std::string_view line, std::string_view prefix) {
  if (line.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != prefix[i]) return false;
  }
  return true;
}

}  // namespace

std::string interop_message(const std::string& message_id, int body_lines) {
  std::string m;
  m += "From: Sender <sender@cubby.test>\r\n";
  m += "To: Recipients <undisclosed-recipients@cubby.test>\r\n";
  m += "Subject: interop " + message_id + "\r\n";
  m += "Message-ID: <" + message_id + ">\r\n";
  m += "Date: Mon, 1 Jan 2024 12:00:00 +0000\r\n";
  m += "\r\n";
  for (int i = 0; i < body_lines; ++i) {
    m += (i % 5 == 2 ? "." : "") + std::string("line ") + std::to_string(i) + " of " + message_id +
         "\r\n";
  }
  return m;
}

std::string stored_headers(const std::string& path) {
  auto content = e2e::read_file(path);
  if (!content) return "";
  size_t end = content->find("\r\n\r\n");
  return end == std::string::npos ? *content : content->substr(0, end + 2);
}

std::vector<StoredFile> stored_files(const std::string& dir) {
  std::vector<StoredFile> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() < 2 || name.back() != '.' ||
        name.find_first_not_of("0123456789") != name.size() - 1) {
      continue;  // not a "<uid>." message file
    }
    std::string headers = stored_headers(it->path().string());
    std::string id;
    size_t pos = 0;
    while (pos < headers.size()) {
      size_t end = headers.find("\r\n", pos);
      if (end == std::string::npos) end = headers.size();
      std::string_view line(headers.data() + pos, end - pos);
      if (iequals_prefix(line, "message-id:")) {
        std::string_view v = line.substr(11);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        if (!v.empty() && v.front() == '<') v.remove_prefix(1);
        if (!v.empty() && v.back() == '>') v.remove_suffix(1);
        id = v;
        break;
      }
      pos = end + 2;
    }
    out.push_back({it->path().string(), id});
  }
  return out;
}

std::map<std::string, int> message_id_counts(const std::string& dir) {
  std::map<std::string, int> counts;
  for (const auto& f : stored_files(dir)) ++counts[f.message_id];
  return counts;
}

std::string file_with_id(const std::string& dir, const std::string& message_id) {
  for (const auto& f : stored_files(dir)) {
    if (f.message_id == message_id) return f.path;
  }
  return "";
}

std::string regex_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (std::strchr("\\^$.|?*+()[]{}", c)) out += '\\';
    out += c;
  }
  return out;
}

ino_t inode_of(const std::string& path) {
  auto st = e2e::stat_file(path);
  return st ? st->st_ino : 0;
}

std::map<std::string, GuidRows> index_rows_by_guid(const std::string& sqlite_path,
                                                   std::string* error) {
  std::map<std::string, GuidRows> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(sqlite_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    *error = "open " + sqlite_path + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return out;
  }
  sqlite3_busy_timeout(db, 10000);
  sqlite3_stmt* st = nullptr;
  // Durable rows and pending ones (index.h) alike.
  const char* sql =
      "SELECT guid, COUNT(*), COUNT(DISTINCT stage) FROM (SELECT guid, stage FROM messages "
      "UNION ALL SELECT guid, stage FROM deliveries) GROUP BY guid";
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
    *error = std::string("prepare: ") + sqlite3_errmsg(db);
  } else {
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      const auto* guid = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      out[guid ? guid : ""] = GuidRows{sqlite3_column_int(st, 1), sqlite3_column_int(st, 2)};
    }
    if (rc != SQLITE_DONE) *error = std::string("step: ") + sqlite3_errmsg(db);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

void PostfixInterop::SetUp() {
  std::string missing;
  if (::geteuid() != 0) {
    missing = "needs root: it starts a private Postfix (postfix start) and uses sendmail -C";
  } else if (::access("/usr/sbin/postfix", X_OK) != 0 || ::getpwnam("postfix") == nullptr) {
    missing = "the postfix package is not installed (scripts/install-deps installs it)";
  }
  if (!missing.empty()) {
    if (std::getenv("CI")) GTEST_FAIL() << missing << " (not skipped under CI)";
    GTEST_SKIP() << missing;
  }
  ASSERT_FALSE(cubby_root_.path().empty() || postfix_root_.path().empty()) << "mkdtemp failed";
}

void PostfixInterop::TearDown() {
  if (HasFailure()) {
    if (postfix_) {
      std::cerr << "---- Postfix maillog (" << postfix_->maillog_path() << ") ----\n"
                << tail(postfix_->maillog(), 12000) << "---- end of maillog ----\n";
    }
    if (cubby_) {
      std::cerr << "---- Cubby log (" << cubby_->root() << "/master.log) ----\n"
                << tail(cubby_->log(), 6000) << "---- end of Cubby log ----\n";
    }
  }
  if (postfix_) {
    auto problem = postfix_->stop();
    EXPECT_FALSE(problem) << "stopping Postfix: " << *problem;
    EXPECT_TRUE(postfix_->processes().empty()) << "a Postfix process outlived the test";
    postfix_.reset();
  }
  if (cubby_) {
    cubby_->stop();
    EXPECT_EQ(cubby_->sanitizer_reports(), "") << "sanitizer reports from Cubby's processes";
  }
  cubby_.reset();
}

void PostfixInterop::start_cubby(const std::vector<std::string>& users,
                                 std::vector<std::string> settings,
                                 const std::string& unix_options) {
  // Postfix's lmtp(8) runs as user postfix and must reach <root>/socket/lmtp.
  ASSERT_EQ(::chmod(cubby_root_.path().c_str(), 0711), 0);
  e2e::InstanceOptions options;
  options.root = cubby_root_.path();
  options.settings = std::move(settings);
  options.unix_service_options = unix_options;
  cubby_ = std::make_unique<CubbyInstance>(options);
  auto error = cubby_->start();
  ASSERT_FALSE(error) << *error;
  for (const auto& u : users) {
    auto e = cubby_->create_mailbox(u);
    ASSERT_FALSE(e) << *e;
  }
}

PostfixInstance& PostfixInterop::postfix() {
  if (!postfix_) postfix_ = std::make_unique<PostfixInstance>(postfix_root_.path());
  return *postfix_;
}

void PostfixInterop::start_postfix() {
  auto error = postfix().start();
  ASSERT_FALSE(error) << *error;
}

std::string PostfixInterop::write_table(const std::string& name, const std::string& content) {
  std::string error;
  std::string table = postfix().write_table(name, content, &error);
  EXPECT_TRUE(error.empty()) << error;
  return table;
}

bool PostfixInterop::wait_messages(const std::string& mailbox, size_t n,
                                   std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (CubbyInstance::message_files(cubby_->spool(), mailbox).size() >= n) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
}

std::vector<std::string> PostfixInterop::lhlo_capabilities(int port) {
  std::vector<std::string> caps;
  LmtpClient c;
  if (!(port == 0 ? c.connect_unix(cubby_->socket_path()) : c.connect_tcp(port))) return caps;
  c.set_timeout(5s);
  if (c.read_reply().code != 220) return caps;
  auto r = c.command("LHLO interop.test");
  c.command("QUIT");
  if (r.code != 250) return caps;
  for (size_t i = 1; i < r.lines.size(); ++i) {  // the first line is the greeting name
    if (r.lines[i].size() > 4) caps.push_back(r.lines[i].substr(4));
  }
  return caps;
}

void PostfixInterop::expect_no_unix_account(const std::string& name) {
  EXPECT_EQ(::getpwnam(name.c_str()), nullptr)
      << "this test needs \"" << name << "\" to have no UNIX account on this machine";
}

void PostfixInterop::expect_check_passes() {
  // check counts rows whose links are not yet durable (the checkpoint comes within a second).
  EXPECT_TRUE(cubby_->wait_settled(10s)) << "stage files left after 10 s";
  auto r = cubby_->ctl({"check"});
  EXPECT_EQ(r.exit_code, 0) << "cubbyctl check: " << r.describe();
}

void PostfixInterop::expect_listed(const std::string& mailbox) {
  std::string error;
  auto rows = cubby_->messages(mailbox, &error);
  ASSERT_TRUE(rows) << "cubbyctl message list user/" << mailbox << ": " << error;
  EXPECT_EQ(rows->size(), stored_files(mailbox_dir(mailbox)).size()) << mailbox;
}

}  // namespace cubby::interop
