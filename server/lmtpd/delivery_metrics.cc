// Counting deliveries into the worker's counters; see delivery_metrics.h.
#include "server/lmtpd/delivery_metrics.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "server/process/worker_counters.h"

namespace cubby::server {
namespace {

using Clock = std::chrono::steady_clock;

// When each session's message went to the committer; a session has at most one there.
std::unordered_map<std::string, Clock::time_point>& started() {
  static std::unordered_map<std::string, Clock::time_point> map;
  return map;
}

}  // namespace

lmtp::RecipientVerdict CountingStoreBackend::check_recipient(
    const lmtp::RecipientRequest& request) {
  lmtp::RecipientVerdict verdict = StoreBackend::check_recipient(request);
  if (!verdict.accepted) worker_counters().add_recipient(verdict.rejection.code);
  return verdict;
}

void delivery_started(const std::string& session_id) { started()[session_id] = Clock::now(); }

void delivery_finished(const std::string& session_id, const store::DeliveryResult& result,
                       const std::vector<lmtp::Reply>& replies) {
  WorkerCounters& c = worker_counters();
  constexpr auto relaxed = std::memory_order_relaxed;
  c.transactions.fetch_add(1, relaxed);
  c.bytes_received.fetch_add(result.size, relaxed);
  // The stage file is written once, plus every full copy; each hard link beyond the first
  // recipient's stands for a copy not written.
  c.bytes_written.fetch_add(result.size * (1 + static_cast<uint64_t>(result.copies)), relaxed);
  c.bytes_linked.fetch_add(result.size * static_cast<uint64_t>(std::max(0, result.links - 1)),
                           relaxed);
  for (const auto& o : result.outcomes) {
    if (o.error && o.error->code == store::Errc::kUnsettled) {
      c.unsettled_refusals.fetch_add(1, relaxed);
    }
  }
  for (const lmtp::Reply& r : replies) {
    c.add_recipient(r.code);
    if (r.code == 250) c.deliveries.fetch_add(1, relaxed);
  }
  auto it = started().find(session_id);
  if (it != started().end()) {
    c.add_latency(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - it->second));
    started().erase(it);
  }
}

}  // namespace cubby::server
