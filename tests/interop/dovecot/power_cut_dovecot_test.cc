// Power cuts on a Maildir++ partition that Dovecot serves (issue 12: "after every cut Dovecot opens
// every mailbox at once"): the power-cut loop of tests/e2e/power_cut.h (every process SIGKILLed
// under load, the disk rolled back to its last durable state, recovery, Cubby's own checks of
// every INBOX) with a private Dovecot (dovecot_instance.h) started once for the test. After every
// cut and recovery, with Cubby idle, the partition is handed to Dovecot's mail user and for every
// user Dovecot must at once:
//   - log in and SELECT the INBOX, with no error in its log;
//   - count in EXISTS exactly the message files Cubby's INBOX holds on disk, so at least every
//     message acknowledged with 250 (one without a 250 may be there or not);
//   - return, for every message new since the last cut, the whole message that was sent to that
//     user (UID FETCH BODY.PEEK[], compared byte for byte): nothing partial, nothing foreign.
// Dovecot runs unjournaled (it is started before the journal's environment is set): its own writes
// (its index, moving a file from new/ to cur/) happen after recovery has made everything it sees
// durable, as its own fsyncs would.
// Runs CUBBY_POWER_CUT_COUNT cut points or CUBBY_POWER_CUT_SECONDS (defaults 20 cuts or 10 s: it
// adds to CI's time), seed CUBBY_POWER_CUT_SEED. Without /usr/sbin/dovecot it is skipped, except
// under CI (CI set), where it fails.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <regex>

#include "tests/e2e/fixture.h"
#include "tests/e2e/power_cut.h"
#include "tests/interop/dovecot/dovecot_instance.h"
#include "tests/interop/dovecot/mail_clients.h"

namespace cubby::interop {
namespace {

using e2e::PartitionFormat;
using e2e::PowerCutCounts;
using e2e::PowerCutOptions;
using e2e::SentMessages;

const std::vector<std::string> kUsers = {"alice", "bob", "carol"};

class PowerCutDovecot : public e2e::CubbyTest {
 protected:
  void TearDown() override {
    if (dovecot_) {
      if (HasFailure()) std::cerr << "---- dovecot log ----\n" << dovecot_->log();
      EXPECT_EQ(dovecot_->stop(), std::nullopt);
    }
    dovecot_.reset();
    e2e::CubbyTest::TearDown();
  }

  // What Dovecot shows after one recovery (see the top of the file).
  void dovecot_opens_every_mailbox(const std::string& when, const SentMessages& sent,
                                   const std::map<std::string, size_t>& on_disk) {
    SCOPED_TRACE("Dovecot, " + when);
    auto error = dovecot_->hand_over_partition();
    ASSERT_EQ(error, std::nullopt) << *error;
    static const std::regex fetch_uid(R"(^\* \d+ FETCH \(.*UID (\d+))");
    for (const auto& u : kUsers) {
      ImapClient imap(dovecot_->imap_port());
      ASSERT_TRUE(imap.login(u, DovecotInstance::kPassword)) << u;
      auto exists = imap.select("INBOX");
      ASSERT_TRUE(exists) << u << ": SELECT INBOX failed";
      size_t acked = 0;
      for (const auto& [id, s] : sent) acked += s.acked.count(u);
      EXPECT_EQ(static_cast<size_t>(*exists), on_disk.at(u)) << u;
      EXPECT_GE(static_cast<size_t>(*exists), acked) << u << ": acknowledged messages missing";
      ++selects_;
      if (*exists == 0) continue;
      const uint32_t from = last_uid_[u] + 1;
      auto r = imap.command("UID FETCH " + std::to_string(from) + ":* (UID BODY.PEEK[])");
      ASSERT_TRUE(r.ok()) << u << ": " << r.status;
      size_t literal = 0;
      for (const auto& line : r.untagged) {
        std::smatch m;
        if (!std::regex_search(line, m, fetch_uid)) continue;
        ASSERT_LT(literal, r.literals.size()) << u << ": a FETCH without its body: " << line;
        const std::string& body = r.literals[literal++];
        const uint32_t uid = static_cast<uint32_t>(std::stoul(m[1]));
        if (uid < from) continue;  // "n:*" past the last UID still names the last message
        last_uid_[u] = std::max(last_uid_[u], uid);
        ++fetched_;
        const std::string id = e2e::message_id_of(body);
        auto it = sent.find(id);
        ASSERT_NE(it, sent.end()) << u << " UID " << uid << ": never sent: " << id;
        EXPECT_TRUE(it->second.targets.count(u)) << id << " is in " << u << "'s INBOX";
        EXPECT_EQ(
            e2e::check_stored(body, e2e::kPowerCutSender, "[unix socket]", it->second.content), "")
            << u << " UID " << uid << " (" << id << ") as Dovecot returns it";
      }
      imap.command("LOGOUT");
    }
    // Dovecot found nothing to complain about (a wrong S=, a file it could not read, ...).
    const std::string log = dovecot_->log();
    for (size_t at = log.find("rror:", log_seen_); at != std::string::npos;
         at = log.find("rror:", at + 1)) {
      const size_t bol = log.rfind('\n', at) + 1;
      ADD_FAILURE() << "dovecot logged: " << log.substr(bol, log.find('\n', at) - bol);
    }
    log_seen_ = log.size();
  }

  std::optional<DovecotInstance> dovecot_;
  std::map<std::string, uint32_t> last_uid_;  // per user: the highest UID fetched so far
  size_t log_seen_ = 0;
  size_t selects_ = 0, fetched_ = 0;
};

TEST_F(PowerCutDovecot, AfterEveryCutDovecotOpensEveryMailboxWithEveryAcknowledgedMessage) {
  if (::access("/usr/sbin/dovecot", X_OK) != 0) {
    if (std::getenv("CI")) GTEST_FAIL() << "no /usr/sbin/dovecot (not skipped under CI)";
    GTEST_SKIP() << "no /usr/sbin/dovecot: scripts/install-deps installs dovecot-imapd";
  }
  PowerCutOptions options;
  options.format = PartitionFormat::kMaildir;
  options.users = kUsers;
  options.fault_lib = CUBBY_FAULT_LIB;
  options.seconds = 10;
  options.cuts = 20;
  if (const char* s = getenv("CUBBY_POWER_CUT_SECONDS")) options.seconds = std::max(1, atoi(s));
  if (const char* s = getenv("CUBBY_POWER_CUT_COUNT")) options.cuts = std::max(1, atoi(s));
  if (const char* s = getenv("CUBBY_POWER_CUT_SEED")) options.seed = static_cast<unsigned>(atoi(s));
  options.after_recovery = [this](const std::string& when, const SentMessages& sent,
                                  const std::map<std::string, size_t>& on_disk) {
    dovecot_opens_every_mailbox(when, sent, on_disk);
  };

  std::vector<std::string> settings = e2e::format_settings(options.format);
  settings.push_back("duplicatesuppression: no");
  ASSERT_NO_FATAL_FAILURE(start(kUsers, settings));
  ASSERT_TRUE(cubby_->stop());
  const std::string dovecot_root = root_.path() + "/dovecot";  // outside the journaled lib/, spool/
  ASSERT_EQ(::mkdir(dovecot_root.c_str(), 0700), 0);
  dovecot_.emplace(dovecot_root, cubby_->spool());
  auto error = dovecot_->start();
  ASSERT_EQ(error, std::nullopt) << *error;

  PowerCutCounts counts;
  ASSERT_NO_FATAL_FAILURE(e2e::run_power_cuts(*cubby_, root_.path(), options, &counts));
  std::cout << counts.summary("Maildir under Dovecot,", options.seed)
            << "[ power cut ] Dovecot: " << selects_ << " SELECTs (every INBOX after every cut), "
            << fetched_ << " messages fetched and compared\n";
  EXPECT_EQ(counts.missing, 0u);
  EXPECT_GT(counts.checked, 0u) << "nothing was acknowledged: the load never ran";
  EXPECT_EQ(selects_, kUsers.size() * static_cast<size_t>(counts.cuts + 1));
}

}  // namespace
}  // namespace cubby::interop
