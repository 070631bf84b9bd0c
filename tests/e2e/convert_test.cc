// cubbyctl convert against a running Cubby (store/convert.h): mailboxes filled over LMTP are
// converted from the Cyrus layout to Maildir++ and back while `cubbyctl convert` is SIGKILLed at
// seeded random moments; each time a rerun finishes the job, and afterwards every message is there
// exactly once with its bytes, the message sent to every user is still one inode, `cubbyctl check`
// is clean and the next delivery lands in the new format.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "tests/e2e/fixture.h"
#include "tests/e2e/process.h"
#include "tests/e2e/transaction.h"

namespace cubby::e2e {
namespace {

namespace fs = std::filesystem;

using ConvertE2e = CubbyTest;

constexpr int kUsers = 5;
constexpr int kPerUser = 40;  // 39 of their own and one sent to every user

std::string user(int i) { return "u" + std::to_string(i); }

// What the index lists for a user, by UID.
std::map<int64_t, MessageRow> rows_of(CubbyInstance& c, const std::string& u) {
  std::map<int64_t, MessageRow> out;
  std::string error;
  auto rows = c.messages(u, &error);
  EXPECT_TRUE(rows) << error;
  for (const auto& r : rows.value_or(std::vector<MessageRow>{})) out[r.uid] = r;
  return out;
}

// The message files of a user on disk in one format: GUID of the bytes -> paths.
std::map<std::string, std::vector<std::string>> files_of(const std::string& spool,
                                                         const std::string& u, bool maildir) {
  std::map<std::string, std::vector<std::string>> out;
  std::vector<std::string> dirs;
  if (maildir) {
    dirs = {spool + "/" + u + "/new", spool + "/" + u + "/cur"};
  } else {
    dirs = {CubbyInstance::mailbox_dir(spool, u)};
  }
  for (const auto& d : dirs) {
    if (!fs::is_directory(d)) continue;
    for (auto& e : fs::directory_iterator(d)) {
      const std::string name = e.path().filename();
      if (!e.is_regular_file()) continue;
      if (!maildir && (name.empty() || name.back() != '.')) continue;  // cubby.header
      auto bytes = read_file(e.path());
      if (bytes) out[guid_of(*bytes)].push_back(e.path());
    }
  }
  return out;
}

// Whether a killed conversion left the store part-way: a journal, a mailbox still marked, or some
// users in one format and some in the other.
bool partway(CubbyInstance& c) {
  const std::string journals = c.root() + "/lib/convert";
  if (fs::is_directory(journals)) {
    for (auto& e : fs::directory_iterator(journals)) {
      if (e.path().extension() == ".journal") return true;
    }
  }
  int cyrus = 0, maildir = 0;
  for (int i = 0; i < kUsers; ++i) {
    const bool old_there = fs::exists(CubbyInstance::mailbox_dir(c.spool(), user(i)));
    const bool new_there = fs::exists(c.spool() + "/" + user(i) + "/new");
    if (old_there && new_there) return true;
    cyrus += old_there;
    maildir += new_there;
  }
  return cyrus > 0 && maildir > 0;
}

// Runs `cubbyctl convert args...` and SIGKILLs it after a random delay, `rounds` times, then runs
// it to completion.
void convert_with_kills(CubbyInstance& c, std::mt19937& random, int rounds,
                        const std::vector<std::string>& args) {
  std::vector<std::string> argv = {std::string(CUBBY_BIN_DIR) + "/cubbyctl", "-C",
                                   c.settings_path(), "convert"};
  argv.insert(argv.end(), args.begin(), args.end());
  // A whole run takes some tens of milliseconds here (start-up included): most kills land in it.
  std::uniform_int_distribution<int> delay_us(500, 40000);
  int killed = 0, midway = 0;
  for (int round = 0; round < rounds; ++round) {
    std::string error;
    auto pid = spawn_logged(argv, c.root() + "/convert.log", &error);
    ASSERT_TRUE(pid) << error;
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(random)));
    ::kill(*pid, SIGKILL);
    auto status = wait_for_exit(*pid, 30s);
    ASSERT_TRUE(status);
    if (WIFSIGNALED(*status)) ++killed;
    if (partway(c)) ++midway;
  }
  std::vector<std::string> ctl_args = {"convert"};
  ctl_args.insert(ctl_args.end(), args.begin(), args.end());
  auto done = c.ctl(ctl_args);
  ASSERT_EQ(done.exit_code, 0) << done.describe();
  // Once finished, running it again has nothing left to do.
  auto again = c.ctl(ctl_args);
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_EQ(again.out.rfind("0 converted", 0), 0u) << again.out;
  std::cerr << "convert " << args[1] << ": " << killed << " of " << rounds
            << " runs killed before they finished, " << midway
            << " of them part-way (a journal, a user half moved, or some users moved)\n";
}

TEST_F(ConvertE2e, KilledAtRandomNeverLosesOrDoublesAMessage) {
  std::vector<std::string> users;
  for (int i = 0; i < kUsers; ++i) users.push_back(user(i));
  ASSERT_NO_FATAL_FAILURE(start(users));
  LmtpClient c = unix_client();
  bool greet = true;
  std::vector<std::string> all;
  for (int i = 0; i < kUsers; ++i) all.push_back(user(i) + "@x");
  for (int n = 0; n < kPerUser - 1; ++n) {
    for (int i = 0; i < kUsers; ++i) {
      Transaction t = run_transaction(c, "s@x", {user(i) + "@x"},
                                      test_message("m" + std::to_string(n) + "." + user(i) + "@x", 5),
                                      greet);
      greet = false;
      ASSERT_EQ(t.final.size(), 1u);
      ASSERT_EQ(t.final[0].code, 250) << t.final[0].text();
    }
  }
  Transaction shared = run_transaction(c, "s@x", all, test_message("shared@x", 30), false);
  ASSERT_EQ(shared.final.size(), static_cast<size_t>(kUsers));
  for (const auto& r : shared.final) ASSERT_EQ(r.code, 250) << r.text();
  ASSERT_TRUE(cubby_->wait_settled());

  std::map<std::string, std::map<int64_t, MessageRow>> before;
  std::map<std::string, std::map<std::string, std::string>> bytes;  // user -> guid -> bytes
  for (const auto& u : users) {
    before[u] = rows_of(*cubby_, u);
    ASSERT_EQ(before[u].size(), static_cast<size_t>(kPerUser));
    for (const auto& [guid, paths] : files_of(cubby_->spool(), u, false)) {
      bytes[u][guid] = *read_file(paths.front());
    }
  }
  const std::string shared_guid = before[user(0)].rbegin()->second.guid;

  std::mt19937 random(20261202);
  for (bool to_maildir : {true, false}) {
    SCOPED_TRACE(to_maildir ? "to maildir" : "to cyrus");
    ASSERT_NO_FATAL_FAILURE(convert_with_kills(
        *cubby_, random, 10, {"--to", to_maildir ? "maildir" : "cyrus", "--partition", "default"}));
    std::set<ino_t> shared_inodes;
    for (const auto& u : users) {
      // The index: the same UIDs, GUIDs, sizes and internal dates.
      auto after = rows_of(*cubby_, u);
      EXPECT_EQ(after, before[u]) << u;
      // The disk: each message once (nothing left at the old place, nothing doubled in new/ and
      // cur/), byte for byte.
      auto files = files_of(cubby_->spool(), u, to_maildir);
      auto old_files = files_of(cubby_->spool(), u, !to_maildir);
      EXPECT_TRUE(old_files.empty()) << u << ": " << old_files.size() << " files at the old place";
      EXPECT_EQ(files.size(), before[u].size()) << u;
      for (const auto& [uid, row] : before[u]) {
        auto it = files.find(row.guid);
        ASSERT_NE(it, files.end()) << u << " uid " << uid << " is missing";
        EXPECT_EQ(it->second.size(), 1u) << u << " uid " << uid << " is there "
                                         << it->second.size() << " times";
        EXPECT_EQ(read_file(it->second.front()), bytes[u][row.guid]);
        if (row.guid == shared_guid) shared_inodes.insert(stat_file(it->second.front())->st_ino);
      }
    }
    EXPECT_EQ(shared_inodes.size(), 1u) << "the message sent to every user is one inode";
    expect_check_passes();

    // A delivery now lands in the new format.
    Transaction t = run_transaction(c, "s@x", {user(0) + "@x"},
                                    test_message(std::string("after-") + (to_maildir ? "m" : "c") + "@x"),
                                    false);
    ASSERT_EQ(t.final.size(), 1u);
    ASSERT_EQ(t.final[0].code, 250) << t.final[0].text();
    ASSERT_TRUE(cubby_->wait_settled());
    auto files = files_of(cubby_->spool(), user(0), to_maildir);
    EXPECT_EQ(files.size(), before[user(0)].size() + 1);
    before[user(0)] = rows_of(*cubby_, user(0));
    for (const auto& [guid, paths] : files) bytes[user(0)][guid] = *read_file(paths.front());
    expect_check_passes();
  }
}

}  // namespace
}  // namespace cubby::e2e
