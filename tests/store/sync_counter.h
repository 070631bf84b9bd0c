// Counts the fsync() and fdatasync() calls of the test_store process (sync_counter.cc interposes
// both, as lmtpd's counter does), so tests can show what a delivery costs in syncs.
#pragma once

#include <cstdint>

namespace cubby::store::testing {

// Calls to fsync() and fdatasync() by any thread of this process since it started.
uint64_t syncs_so_far();

}  // namespace cubby::store::testing
