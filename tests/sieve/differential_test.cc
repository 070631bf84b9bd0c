// The differential test against Pigeonhole (Dovecot's Sieve): every script of
// tests/sieve/corpus/scripts runs on every message of tests/sieve/corpus/messages through both
// cubby-sieve-eval and Pigeonhole's `sieve-test` (Debian dovecot-sieve, scripts/install-deps), and
// the two normalized action lists must be equal. Where the two rightly differ, the case is listed
// in corpus/expected-differences.txt with the reason, and the test then requires that they do
// differ (so a stale annotation is noticed).
//
// sieve-test runs privately: its own dovecot.conf in a temporary directory (-c), no daemon, no
// /etc/dovecot. Normal form, one line per action, sorted: "keep [flags]" (fileinto "INBOX" is
// keep), "fileinto <mailbox> [flags]", "redirect <address>", "reject", "discard", "vacation"
// (sieve-test does not apply the vacation rules, so only the presence is compared), or "error"
// alone (compile or runtime: both then keep the message).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path kCorpus = fs::path(CUBBY_SOURCE_DIR) / "tests/sieve/corpus";
const char* kFrom = "joe@example.org";
const char* kTo = "user+lists@example.com";

struct Command {
  std::string output;
  int status = -1;
};

Command run_command(const std::string& command) {
  Command c;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return c;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) c.output.append(buf, n);
  const int st = pclose(p);
  c.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return c;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string flags_form(std::string flags) {
  std::istringstream in(lower(flags));
  std::set<std::string> sorted;
  for (std::string f; in >> f;) sorted.insert(f);
  std::string out;
  for (const auto& f : sorted) out += (out.empty() ? "" : " ") + f;
  return "[" + out + "]";
}

std::string store_form(const std::string& mailbox, const std::string& flags) {
  if (mailbox == "INBOX") return "keep " + flags_form(flags);
  return "fileinto " + mailbox + " " + flags_form(flags);
}

std::string join(const std::multiset<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Pigeonhole's sieve-test report -> normal form.
std::string pigeonhole_form(const Command& c) {
  if (c.output.find("final result: failed") != std::string::npos ||
      c.output.find("failed to compile") != std::string::npos || c.status != 0)
    return "error\n";
  std::multiset<std::string> actions;
  std::istringstream in(c.output);
  std::string line, mailbox, flags;
  bool storing = false;
  std::set<std::string> stored;  // mailboxes already stored into
  auto flush = [&] {
    // sieve-test lists the implicit keep even when an earlier store into INBOX makes it a
    // duplicate, which delivery then skips; one store per mailbox is what happens.
    if (storing && stored.insert(mailbox == "INBOX" ? "INBOX" : "F:" + mailbox).second)
      actions.insert(store_form(mailbox, flags));
    storing = false;
    flags.clear();
  };
  while (std::getline(in, line)) {
    const size_t star = line.find(" * ");
    if (star == 0 || (star != std::string::npos && line.find_first_not_of(' ') == star + 1)) {
      flush();
      const std::string what = line.substr(star + 3);
      if (what.rfind("store message in folder: ", 0) == 0) {
        storing = true;
        mailbox = what.substr(25);
      } else if (what.rfind("redirect message to: ", 0) == 0) {
        std::string a = what.substr(21);
        if (!a.empty() && a.front() == '<') a = a.substr(1, a.size() - 2);
        actions.insert("redirect " + lower(a));
      } else if (what.find("reject") != std::string::npos) {
        actions.insert("reject");
      } else if (what == "discard") {
        actions.insert("discard");
      } else if (what.rfind("track duplicate", 0) == 0) {
        // A duplicate mark, not an action (Cubby returns them in Outcome::duplicates).
      } else if (what.rfind("send vacation message", 0) == 0) {
        actions.insert("vacation");
      } else {
        actions.insert("unknown: " + what);
      }
    } else if (storing && line.find("+ add IMAP flags: ") != std::string::npos) {
      flags += " " + line.substr(line.find("+ add IMAP flags: ") + 18);
    }
  }
  flush();
  return join(actions);
}

// cubby-sieve-eval's text output -> normal form.
std::string cubby_form(const Command& c) {
  if (c.output.find("compile error:") == 0 || c.output.find("runtime error:") == 0)
    return "error\n";
  if (c.status != 0) return "tool failed (" + std::to_string(c.status) + "): " + c.output;
  std::multiset<std::string> actions;
  std::istringstream in(c.output);
  for (std::string line; std::getline(in, line);) {
    auto strip_flags = [](std::string rest, std::string& flags) {
      for (const char* tag : {" :copy", " :create"})
        if (auto p = rest.find(tag); p != std::string::npos) rest.erase(p, std::string(tag).size());
      if (auto p = rest.find(" flags "); p != std::string::npos) {
        flags = rest.substr(p + 7);
        rest.erase(p);
      } else if (rest.rfind("flags ", 0) == 0) {
        flags = rest.substr(6);
        rest.clear();
      }
      return rest;
    };
    std::string flags;
    if (line.rfind("keep", 0) == 0) {
      std::string rest = line.substr(4);
      if (rest.rfind(" (implicit)", 0) == 0) rest = rest.substr(11);
      strip_flags(rest, flags);
      actions.insert("keep " + flags_form(flags));
    } else if (line.rfind("fileinto ", 0) == 0) {
      const std::string mailbox = strip_flags(line.substr(9), flags);
      actions.insert(store_form(mailbox, flags));
    } else if (line.rfind("redirect ", 0) == 0) {
      std::string a = line.substr(9);
      if (auto p = a.find(" :copy"); p != std::string::npos) a.erase(p);
      actions.insert("redirect " + lower(a));
    } else if (line.rfind("reject ", 0) == 0 || line.rfind("ereject ", 0) == 0) {
      actions.insert("reject");
    } else if (line == "discard") {
      actions.insert("discard");
    } else if (line.rfind("vacation ", 0) == 0) {
      actions.insert("vacation");
    } else {
      actions.insert("unknown: " + line);
    }
  }
  return join(actions);
}

// "script message reason..." lines; message may be "*".
std::map<std::pair<std::string, std::string>, std::string> expected_differences() {
  std::map<std::pair<std::string, std::string>, std::string> out;
  std::ifstream in(kCorpus / "expected-differences.txt");
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string script, message, reason;
    words >> script >> message;
    std::getline(words, reason);
    out[{script, message}] = reason;
  }
  return out;
}

std::vector<std::string> files_in(const fs::path& dir, const std::string& ext) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ext) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

class SieveDifferential : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists("/usr/bin/sieve-test"))
      GTEST_SKIP() << "Pigeonhole's sieve-test is not installed (scripts/install-deps installs "
                      "dovecot-sieve)";
    char tmpl[] = "/tmp/cubby-sieve-diff-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // sieve-test refuses to run as root and drops to mail_uid; that user must read our files.
    fs::permissions(dir_, fs::perms::all);
    fs::copy(kCorpus, dir_ / "corpus", fs::copy_options::recursive);
    const bool root = geteuid() == 0;
    const std::string uid = root ? "65534" : std::to_string(geteuid());
    const std::string gid = root ? "65534" : std::to_string(getegid());
    std::ofstream conf(dir_ / "dovecot.conf");
    conf << "base_dir = " << (dir_ / "run").string() << "\n"
         << "state_dir = " << (dir_ / "state").string() << "\n"
         << "log_path = /dev/stderr\n"
         << "mail_location = maildir:" << (dir_ / "mail").string() << "\n"
         << "mail_uid = " << uid << "\nmail_gid = " << gid << "\n"
         << "first_valid_uid = 0\nfirst_valid_gid = 0\n"
         << "recipient_delimiter = +\n"
         << "plugin {\n"
         << "  sieve = file:" << (dir_ / "corpus/personal").string() << "\n"
         << "  sieve_global = " << (dir_ / "corpus/global").string() << "\n"
         << "  sieve_extensions = +vacation-seconds\n"
         << "}\n";
    conf.close();
    for (const auto& e : fs::recursive_directory_iterator(dir_))
      fs::permissions(e.path(), fs::perms::all, fs::perm_options::add);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::string pigeonhole(const std::string& script, const std::string& message) {
    const std::string cmd = "cd " + dir_.string() + " && TZ=UTC HOME=" + dir_.string() +
                            " /usr/bin/sieve-test -c " + (dir_ / "dovecot.conf").string() + " -f " +
                            kFrom + " -r " + kTo + " " +
                            (dir_ / "corpus/scripts" / script).string() + " " +
                            (dir_ / "corpus/messages" / message).string();
    return pigeonhole_form(run_command(cmd));
  }

  std::string cubby(const std::string& script, const std::string& message) {
    const std::string cmd = std::string(CUBBY_BIN_DIR) + "/cubby-sieve-eval --from " + kFrom +
                            " --to " + kTo + " --personal " + (kCorpus / "personal").string() +
                            " --global " + (kCorpus / "global").string() + " " +
                            (kCorpus / "scripts" / script).string() + " " +
                            (kCorpus / "messages" / message).string();
    return cubby_form(run_command(cmd));
  }

  fs::path dir_;
};

TEST_F(SieveDifferential, SameActionsAsPigeonhole) {
  const auto scripts = files_in(kCorpus / "scripts", ".sieve");
  const auto messages = files_in(kCorpus / "messages", ".eml");
  auto differences = expected_differences();
  ASSERT_GE(scripts.size() * messages.size(), 100u) << "the corpus must have at least 100 cases";
  int agreed = 0, differed_as_expected = 0;
  for (const auto& script : scripts) {
    for (const auto& message : messages) {
      const std::string ours = cubby(script, message);
      const std::string theirs = pigeonhole(script, message);
      auto it = differences.find({script, message});
      if (it == differences.end()) it = differences.find({script, "*"});
      if (it != differences.end()) {
        EXPECT_NE(ours, theirs) << script << " on " << message << " is annotated as differing ("
                                << it->second << ") but both give:\n"
                                << ours;
        ++differed_as_expected;
      } else {
        EXPECT_EQ(ours, theirs) << script << " on " << message << "\n--- Cubby:\n"
                                << ours << "--- Pigeonhole:\n"
                                << theirs;
        if (ours == theirs) ++agreed;
      }
    }
  }
  std::printf("%zu cases: %d agree, %d differ as annotated\n", scripts.size() * messages.size(),
              agreed, differed_as_expected);
}

}  // namespace
