// Power-cut simulation (issue 8, docs/reliability.md): the loop and what it checks are in
// tests/e2e/power_cut.h. This test runs it on a Cyrus partition and on a Maildir++ one
// (partitionformat: maildir; what it checks there is in tests/e2e/inbox_files.h);
// tests/interop/dovecot/power_cut_dovecot_test.cc runs it again with Dovecot reading the Maildir
// after every cut.
// A run ends after CUBBY_POWER_CUT_COUNT cut points or CUBBY_POWER_CUT_SECONDS, whichever comes
// first (defaults: Cyrus 200 cuts or 120 s; Maildir, which adds to CI's time, 40 cuts or 15 s);
// CUBBY_POWER_CUT_SEED picks the cut points.
#include "tests/e2e/power_cut.h"

#include <cstdlib>
#include <iostream>

#include "tests/e2e/fixture.h"

namespace cubby::e2e {
namespace {

const std::vector<std::string> kUsers = {"alice", "bob", "carol"};

class PowerCutE2e : public CubbyTest, public ::testing::WithParamInterface<PartitionFormat> {};

TEST_P(PowerCutE2e, RollbackToTheLastDurableStateLosesNoAcknowledgedMessage) {
  PowerCutOptions options;
  options.format = GetParam();
  options.users = kUsers;
  options.fault_lib = CUBBY_FAULT_LIB;
  if (options.format == PartitionFormat::kMaildir) {
    options.seconds = 15;
    options.cuts = 40;
  }
  if (const char* s = getenv("CUBBY_POWER_CUT_SECONDS")) options.seconds = std::max(1, atoi(s));
  if (const char* s = getenv("CUBBY_POWER_CUT_COUNT")) options.cuts = std::max(1, atoi(s));
  if (const char* s = getenv("CUBBY_POWER_CUT_SEED")) options.seed = static_cast<unsigned>(atoi(s));

  std::vector<std::string> settings = format_settings(options.format);
  settings.push_back("duplicatesuppression: no");
  ASSERT_NO_FATAL_FAILURE(start(kUsers, settings));
  ASSERT_TRUE(cubby_->stop());
  PowerCutCounts counts;
  ASSERT_NO_FATAL_FAILURE(run_power_cuts(*cubby_, root_.path(), options, &counts));
  std::cout << counts.summary(format_name(options.format), options.seed);
  EXPECT_EQ(counts.missing, 0u);
  EXPECT_GT(counts.checked, 0u) << "nothing was acknowledged: the load never ran";
}

INSTANTIATE_TEST_SUITE_P(, PowerCutE2e,
                         ::testing::Values(PartitionFormat::kCyrus, PartitionFormat::kMaildir),
                         [](const auto& info) { return format_name(info.param); });

}  // namespace
}  // namespace cubby::e2e
