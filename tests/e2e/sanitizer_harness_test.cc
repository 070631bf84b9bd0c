// The plumbing of the sanitizer runs (scripts/test --sanitize): a report written by one of the
// instance's processes - here a worker that AddressSanitizer catches dying of SIGSEGV - must reach
// the test through CubbyInstance::sanitizer_reports(), which the fixture checks after every test.
// Skipped in the plain build and when no ASAN_OPTIONS are set.
#include <signal.h>

#include <cstdlib>
#include <filesystem>

#include "tests/e2e/fixture.h"

namespace cubby::e2e {
namespace {

using SanitizerHarness = CubbyTest;

TEST_F(SanitizerHarness, AWorkersReportReachesTheTest) {
  if (!kSanitized || getenv("ASAN_OPTIONS") == nullptr) GTEST_SKIP() << "not an ASan run";
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  const std::vector<pid_t> workers = cubby_->workers("lmtpunix");
  ASSERT_FALSE(workers.empty());
  ASSERT_EQ(::kill(workers.front(), SIGSEGV), 0);
  EXPECT_TRUE(eventually([&] { return !cubby_->sanitizer_reports().empty(); }, 20s));
  const std::string reports = cubby_->sanitizer_reports();
  EXPECT_NE(reports.find("ERROR: AddressSanitizer: SEGV"), std::string::npos) << reports;
  EXPECT_NE(reports.find("report." + std::to_string(workers.front())), std::string::npos)
      << reports;
  // The report was expected: remove it so that the fixture's own check passes.
  std::filesystem::remove_all(root_.path() + "/sanitizer");
  std::filesystem::create_directory(root_.path() + "/sanitizer");
}

}  // namespace
}  // namespace cubby::e2e
