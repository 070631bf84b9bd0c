// The fixture of the end-to-end tests: two temporary roots (the second for partition p2) and a
// CubbyInstance on them, started by the test with the settings it needs. When a test fails the
// fixture prints the end of the server's log. In sanitizer runs a report from any process of the
// instance fails the test (CubbyInstance::sanitizer_reports).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/instance.h"
#include "tests/e2e/lmtp_client.h"
#include "tests/e2e/stored_message.h"

namespace cubby::e2e {

class CubbyTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (cubby_) {
      // Stopped first, so that LeakSanitizer's reports (written at exit) are in.
      cubby_->stop();
      const std::string reports = cubby_->sanitizer_reports();
      EXPECT_EQ(reports, "") << "sanitizer reports from this test's Cubby processes";
    }
    if (cubby_ && HasFailure()) {
      std::string log = cubby_->log();
      if (log.size() > 8000) log = "...\n" + log.substr(log.size() - 8000);
      std::cerr << "---- server log (" << cubby_->root() << "/master.log) ----\n"
                << log << "---- end of server log ----\n";
    }
    cubby_.reset();
  }

  // Creates a CubbyInstance on root_ (and root2_ when `second_partition`), creates the
  // mailboxes user/<u> for every u in `users` (on `partition` if given), starts it.
  // Use as ASSERT_NO_FATAL_FAILURE(start(...)).
  void start(const std::vector<std::string>& users, std::vector<std::string> settings = {},
             bool second_partition = false) {
    ASSERT_FALSE(root_.path().empty()) << "mkdtemp failed";
    InstanceOptions options;
    options.root = root_.path();
    if (second_partition) options.second_root = root2_.path();
    options.settings = std::move(settings);
    cubby_ = std::make_unique<CubbyInstance>(options);
    auto error = cubby_->start();
    ASSERT_FALSE(error) << *error;
    for (const auto& u : users) {
      auto e = cubby_->create_mailbox(u);
      ASSERT_FALSE(e) << *e;
    }
  }

  // A client connected to the UNIX socket (or TCP port) of the running instance.
  LmtpClient unix_client() {
    LmtpClient c;
    EXPECT_TRUE(c.connect_unix(cubby_->socket_path())) << c.error();
    return c;
  }
  LmtpClient tcp_client(int port) {
    LmtpClient c;
    EXPECT_TRUE(c.connect_tcp(port)) << c.error();
    return c;
  }

  // `cubbyctl check` must exit 0.
  void expect_check_passes() {
    auto r = cubby_->ctl({"check"});
    EXPECT_EQ(r.exit_code, 0) << "cubbyctl check: " << r.describe();
  }

  TempDir root_, root2_;
  std::unique_ptr<CubbyInstance> cubby_;
};

}  // namespace cubby::e2e
