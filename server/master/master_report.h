// What cubby-master tells about itself: a snapshot of its services, workers, counters, events and
// daemons (MasterStatus), rendered for `cubbyctl status` (a table, or JSON) and as Prometheus
// metrics (text exposition format 0.0.4). Pure functions of the snapshot, so they are tested
// without processes. docs/master.md lists every metric.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "server/master/master_jobs.h"
#include "server/master/master_service.h"

namespace cubby::server {

struct MasterStatus {
  pid_t pid = 0;
  std::string user;  // "cubby:cubby", or "root"
  std::chrono::system_clock::time_point started{}, now{};
  std::string settings_path, services_path;
  uint64_t reloads = 0, reload_failures = 0;
  std::string last_reload;  // "" before the first; else "ok" or the error
  std::chrono::system_clock::time_point last_reload_at{};
  bool stopping = false;
  std::vector<ServiceAddressStatus> addresses;
  std::vector<JobStatus> jobs;
};

// The addresses that are disabled, as `service "x" (addr)`; empty when every one accepts. A
// supervisor's question: `cubbyctl status` exits 2 when there is one (status_client.h), and every
// rendering below names them ("health:" line, "disabled" array, cubby_master_disabled_addresses).
std::vector<std::string> disabled_addresses(const MasterStatus& status);

// An aligned table: a header paragraph ending in a "health: ok" or "health: DISABLED ..." line,
// one row per service address, one per event and daemon.
std::string render_status_text(const MasterStatus& status);
// One JSON object: {"pid", "user", "started", ..., "healthy", "disabled": [...],
// "services": [...], "jobs": [...]}.
std::string render_status_json(const MasterStatus& status);
// Prometheus text format.
std::string render_metrics(const MasterStatus& status);

}  // namespace cubby::server
