// Rendering the master's snapshot as a table, JSON and Prometheus metrics; see master_report.h.
#include "server/master/master_report.h"

#include <time.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>

#include "conf/json.h"

namespace cubby::server {
namespace {

using SystemClock = std::chrono::system_clock;

std::string iso_time(SystemClock::time_point t) {
  if (t == SystemClock::time_point{}) return "";
  time_t secs = SystemClock::to_time_t(t);
  struct tm tm;
  localtime_r(&secs, &tm);
  char buf[40];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);
  return buf;
}

std::string duration_text(SystemClock::duration d) {
  long long s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s < 0) s = 0;
  char buf[48];
  if (s >= 86400)
    snprintf(buf, sizeof buf, "%lldd %lldh", s / 86400, s % 86400 / 3600);
  else if (s >= 3600)
    snprintf(buf, sizeof buf, "%lldh %lldm", s / 3600, s % 3600 / 60);
  else if (s >= 60)
    snprintf(buf, sizeof buf, "%lldm %llds", s / 60, s % 60);
  else
    snprintf(buf, sizeof buf, "%llds", s);
  return buf;
}

uint64_t refused(const CounterSnapshot& c) {
  uint64_t n = 0;
  for (int i = 0; i < kCodeSlots; ++i) {
    if (kFirstCode + i >= 400) n += c.recipients[i];
  }
  return n;
}

// Columns padded to their widest cell; the last column is not padded.
std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}


std::string label_value(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Builds a Prometheus text exposition, keeping each family's samples together under one HELP/TYPE.
class Exposition {
 public:
  void family(const std::string& name, const std::string& type, const std::string& help) {
    families_.push_back({name, type, help, {}});
  }
  // A sample of the last family declared; `suffix` ("_bucket", "_sum") goes after its name.
  void sample(const std::string& labels, double value, const std::string& suffix = "") {
    char buf[64];
    if (value == static_cast<double>(static_cast<uint64_t>(value)))
      snprintf(buf, sizeof buf, "%" PRIu64, static_cast<uint64_t>(value));
    else
      snprintf(buf, sizeof buf, "%.6f", value);
    Family& f = families_.back();
    f.lines += f.name + suffix + (labels.empty() ? "" : "{" + labels + "}") + " " + buf + "\n";
  }
  std::string text() const {
    std::string out;
    for (const auto& f : families_) {
      out += "# HELP " + f.name + " " + f.help + "\n# TYPE " + f.name + " " + f.type + "\n";
      out += f.lines;
    }
    return out;
  }

 private:
  struct Family {
    std::string name, type, help, lines;
  };
  std::vector<Family> families_;
};

std::string address_labels(const ServiceAddressStatus& a) {
  return "service=\"" + label_value(a.service) + "\",listen=\"" + label_value(a.address) + "\"";
}

std::string deaths_text(const ServiceAddressStatus& a) {
  return std::to_string(a.deaths[static_cast<int>(WorkerDeath::kAtStart)]) + "/" +
         std::to_string(a.deaths[static_cast<int>(WorkerDeath::kIdle)]) + "/" +
         std::to_string(a.deaths[static_cast<int>(WorkerDeath::kBusy)]);
}

// Seconds since the address's last accepted connection, or since it began listening.
double seconds_since_connection(const MasterStatus& s, const ServiceAddressStatus& a) {
  auto since =
      a.last_connection_at != SystemClock::time_point{} ? a.last_connection_at : a.listening_since;
  if (since == SystemClock::time_point{} || s.now <= since) return 0;
  return std::chrono::duration<double>(s.now - since).count();
}

std::string label_of(const ServiceAddressStatus& a) {
  return "service \"" + a.service + "\" (" + a.address + ")";
}

}  // namespace

std::vector<std::string> disabled_addresses(const MasterStatus& s) {
  std::vector<std::string> out;
  for (const auto& a : s.addresses)
    if (a.state == "disabled") out.push_back(label_of(a));
  return out;
}

std::string render_status_text(const MasterStatus& s) {
  std::string out;
  out += "cubby-master pid " + std::to_string(s.pid) + " running as " + s.user + " since " +
         iso_time(s.started) + " (up " + duration_text(s.now - s.started) + ")" +
         (s.stopping ? ", stopping" : "") + "\n";
  out += "settings " + s.settings_path + ", services " + s.services_path + "\n";
  out += "reloads: " + std::to_string(s.reloads);
  if (!s.last_reload.empty())
    out += " (last at " + iso_time(s.last_reload_at) + ": " + s.last_reload + ")";
  out += "\n";
  std::string health;
  for (const auto& a : s.addresses) {
    if (a.state != "disabled") continue;
    health += (health.empty() ? "" : "; ") + label_of(a);
    if (a.retry_at != SystemClock::time_point{})
      health += " (next try " + iso_time(a.retry_at) + ")";
  }
  out += health.empty() ? "health: ok\n\n" : "health: DISABLED " + health + "\n\n";

  std::vector<std::vector<std::string>> rows = {{"SERVICE", "LISTEN", "STATE", "READY", "BUSY",
                                                 "RETIRING", "CONNECTIONS", "DELIVERIES", "REFUSED",
                                                 "DEATHS", "LAST CONN", "LAST ERROR"}};
  for (const auto& a : s.addresses) {
    std::string error = a.last_error.empty() ? "-" : iso_time(a.last_error_at) + " " + a.last_error;
    rows.push_back({a.service, a.address, a.state, std::to_string(a.ready), std::to_string(a.busy),
                    std::to_string(a.retiring), std::to_string(a.connections),
                    std::to_string(a.counters.deliveries), std::to_string(refused(a.counters)),
                    deaths_text(a),
                    a.last_connection_at == SystemClock::time_point{}
                        ? "-"
                        : duration_text(s.now - a.last_connection_at) + " ago",
                    error});
  }
  out += table(rows);
  if (!s.jobs.empty()) {
    std::vector<std::vector<std::string>> jobs = {
        {"KIND", "NAME", "PID", "RUNS", "FAILURES", "LAST EXIT", "NEXT RUN"}};
    for (const auto& j : s.jobs) {
      jobs.push_back({j.kind, j.name, j.pid ? std::to_string(j.pid) : "-", std::to_string(j.runs),
                      std::to_string(j.failures), j.last_exit.empty() ? "-" : j.last_exit,
                      j.next_run == SystemClock::time_point{} ? "-" : iso_time(j.next_run)});
    }
    out += "\n" + table(jobs);
  }
  return out;
}

std::string render_status_json(const MasterStatus& s) {
  std::string out = "{\"pid\":" + std::to_string(s.pid) + ",\"user\":" + conf::json_string(s.user) +
                    ",\"started\":" + conf::json_string(iso_time(s.started)) +
                    ",\"settings\":" + conf::json_string(s.settings_path) +
                    ",\"services_file\":" + conf::json_string(s.services_path) +
                    ",\"reloads\":" + std::to_string(s.reloads) +
                    ",\"last_reload\":" + conf::json_string(s.last_reload) +
                    ",\"stopping\":" + (s.stopping ? "true" : "false");
  auto disabled = disabled_addresses(s);
  out += std::string(",\"healthy\":") + (disabled.empty() ? "true" : "false") + ",\"disabled\":[";
  for (size_t i = 0; i < disabled.size(); ++i) out += (i ? "," : "") + conf::json_string(disabled[i]);
  out += "],\"services\":[";
  bool first = true;
  for (const auto& a : s.addresses) {
    out += first ? "" : ",";
    first = false;
    out += "{\"service\":" + conf::json_string(a.service) + ",\"listen\":" + conf::json_string(a.address) +
           ",\"state\":" + conf::json_string(a.state) + ",\"ready\":" + std::to_string(a.ready) +
           ",\"busy\":" + std::to_string(a.busy) + ",\"retiring\":" + std::to_string(a.retiring) +
           ",\"prefork\":" + std::to_string(a.prefork) +
           ",\"maxchild\":" + std::to_string(a.maxchild) +
           ",\"connections\":" + std::to_string(a.connections) +
           ",\"transactions\":" + std::to_string(a.counters.transactions) +
           ",\"deliveries\":" + std::to_string(a.counters.deliveries) +
           ",\"refused\":" + std::to_string(refused(a.counters)) +
           ",\"worker_starts\":" + std::to_string(a.forks) +
           ",\"worker_failures\":" + std::to_string(a.failures) + ",\"worker_deaths\":{" +
           "\"at_start\":" + std::to_string(a.deaths[static_cast<int>(WorkerDeath::kAtStart)]) +
           ",\"idle\":" + std::to_string(a.deaths[static_cast<int>(WorkerDeath::kIdle)]) +
           ",\"busy\":" + std::to_string(a.deaths[static_cast<int>(WorkerDeath::kBusy)]) + "}" +
           ",\"disabled_times\":" + std::to_string(a.disabled_times) +
           ",\"retry_at\":" + conf::json_string(iso_time(a.retry_at)) +
           ",\"last_connection_at\":" + conf::json_string(iso_time(a.last_connection_at)) +
           ",\"seconds_since_connection\":" +
           std::to_string(static_cast<long long>(seconds_since_connection(s, a))) +
           ",\"last_error\":" + conf::json_string(a.last_error) +
           ",\"last_error_at\":" + conf::json_string(iso_time(a.last_error_at)) + "}";
  }
  out += "],\"jobs\":[";
  first = true;
  for (const auto& j : s.jobs) {
    out += first ? "" : ",";
    first = false;
    out += "{\"kind\":" + conf::json_string(j.kind) + ",\"name\":" + conf::json_string(j.name) +
           ",\"pid\":" + std::to_string(j.pid) + ",\"runs\":" + std::to_string(j.runs) +
           ",\"failures\":" + std::to_string(j.failures) +
           ",\"last_exit\":" + conf::json_string(j.last_exit) +
           ",\"next_run\":" + conf::json_string(iso_time(j.next_run)) + "}";
  }
  return out + "]}\n";
}

std::string render_metrics(const MasterStatus& s) {
  Exposition e;
  auto seconds = [](SystemClock::time_point t) {
    return static_cast<double>(
        std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
  };
  e.family("cubby_master_start_time_seconds", "gauge", "When cubby-master started (Unix time).");
  e.sample("", seconds(s.started));
  e.family("cubby_master_reloads_total", "counter", "SIGHUP reloads, successful or not.");
  e.sample("", static_cast<double>(s.reloads));
  e.family("cubby_master_reload_failures_total", "counter",
           "Reloads refused because a file was broken (the old configuration kept running).");
  e.sample("", static_cast<double>(s.reload_failures));
  e.family("cubby_master_disabled_addresses", "gauge",
           "Service addresses disabled because their workers cannot start (0 when healthy).");
  e.sample("", static_cast<double>(disabled_addresses(s).size()));

  using Getter = double (*)(const ServiceAddressStatus&);
  struct Simple {
    const char* name;
    const char* type;
    const char* help;
    Getter get;
  };
  static const Simple kSimple[] = {
      {"cubby_service_up", "gauge",
       "1 while the service address accepts connections; 0 when disabled or removed.",
       [](const ServiceAddressStatus& a) { return a.state == "enabled" ? 1.0 : 0.0; }},
      {"cubby_service_connections_total", "counter", "Connections accepted by the workers.",
       [](const ServiceAddressStatus& a) { return static_cast<double>(a.connections); }},
      {"cubby_service_worker_starts_total", "counter", "Workers started.",
       [](const ServiceAddressStatus& a) { return static_cast<double>(a.forks); }},
      {"cubby_service_worker_failures_total", "counter",
       "Workers that exited abnormally (a signal or a non-zero status other than 75).",
       [](const ServiceAddressStatus& a) { return static_cast<double>(a.failures); }},
      {"cubby_service_disabled_total", "counter",
       "Times the address was disabled because its workers died before they were ready.",
       [](const ServiceAddressStatus& a) { return static_cast<double>(a.disabled_times); }},
      {"cubby_service_maxchild_reached_total", "counter",
       "Times the address had no ready worker and maxchild workers (connections waited).",
       [](const ServiceAddressStatus& a) { return static_cast<double>(a.maxchild_reached); }},
      {"cubby_lmtp_transactions_total", "counter", "Messages handed to the store.",
       [](const ServiceAddressStatus& a) { return static_cast<double>(a.counters.transactions); }},
      {"cubby_lmtp_deliveries_total", "counter",
       "Recipients whose message was stored (250 after the message).",
       [](const ServiceAddressStatus& a) { return static_cast<double>(a.counters.deliveries); }},
      {"cubby_lmtp_received_bytes_total", "counter",
       "Bytes of messages handed to the store (as stored, once per transaction).",
       [](const ServiceAddressStatus& a) {
         return static_cast<double>(a.counters.bytes_received);
       }},
      {"cubby_store_written_bytes_total", "counter",
       "Message bytes written to disk: each stage file and each full copy.",
       [](const ServiceAddressStatus& a) { return static_cast<double>(a.counters.bytes_written); }},
      {"cubby_store_link_saved_bytes_total", "counter",
       "Message bytes not written because recipients share one file through hard links.",
       [](const ServiceAddressStatus& a) { return static_cast<double>(a.counters.bytes_linked); }},
      {"cubby_store_fsyncs_total", "counter",
       "fsync() and fdatasync() calls by the workers (message files, directories, index).",
       [](const ServiceAddressStatus& a) { return static_cast<double>(a.counters.fsyncs); }},
      {"cubby_store_unsettled_refusals_total", "counter",
       "Recipients refused (451 4.3.0) because their partition had a failed write not yet "
       "settled (docs/store-protocol.md).",
       [](const ServiceAddressStatus& a) {
         return static_cast<double>(a.counters.unsettled_refusals);
       }},
  };
  for (const Simple& m : kSimple) {
    e.family(m.name, m.type, m.help);
    for (const auto& a : s.addresses) e.sample(address_labels(a), m.get(a));
  }

  e.family("cubby_service_state", "gauge",
           "1 for the address's state (enabled, disabled: its workers cannot start, removed: by a "
           "reload, workers finishing), 0 for the others.");
  for (const auto& a : s.addresses) {
    for (const char* state : {"enabled", "disabled", "removed"})
      e.sample(address_labels(a) + ",state=\"" + state + "\"", a.state == state ? 1 : 0);
  }
  e.family("cubby_service_worker_deaths_total", "counter",
           "Workers that exited abnormally, by when: at_start (before they were ready), idle, busy "
           "(with connections open).");
  for (const auto& a : s.addresses) {
    for (int k = 0; k < kWorkerDeathKinds; ++k)
      e.sample(address_labels(a) + ",kind=\"" + death_name(static_cast<WorkerDeath>(k)) + "\"",
               static_cast<double>(a.deaths[k]));
  }
  e.family("cubby_service_seconds_since_last_connection", "gauge",
           "Seconds since a worker of the address last accepted a connection (since it began "
           "listening, when none has been).");
  for (const auto& a : s.addresses)
    e.sample(address_labels(a), std::floor(seconds_since_connection(s, a)));

  e.family("cubby_service_workers", "gauge",
           "Live workers: ready (room for connections), busy (full), retiring (finishing after a "
           "reload).");
  for (const auto& a : s.addresses) {
    e.sample(address_labels(a) + ",state=\"ready\"", a.ready);
    e.sample(address_labels(a) + ",state=\"busy\"", a.busy);
    e.sample(address_labels(a) + ",state=\"retiring\"", a.retiring);
  }

  e.family(
      "cubby_lmtp_recipients_total", "counter",
      "Recipients by reply code: refused at RCPT by the store, or answered after the message.");
  for (const auto& a : s.addresses) {
    for (int i = 0; i < kCodeSlots; ++i) {
      if (a.counters.recipients[i] == 0) continue;
      int code = kFirstCode + i;
      std::string c = code == kOtherCode ? "other" : std::to_string(code);
      e.sample(address_labels(a) + ",code=\"" + c + "\"",
               static_cast<double>(a.counters.recipients[i]));
    }
  }

  e.family("cubby_delivery_latency_seconds", "histogram",
           "Time from a message's final dot to its replies (the store's group commit).");
  for (const auto& a : s.addresses) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kLatencyBuckets; ++i) {
      cumulative += a.counters.latency_buckets[i];
      char le[32];
      if (i + 1 < kLatencyBuckets)
        snprintf(le, sizeof le, "%g", static_cast<double>(kLatencyBoundsMs[i]) / 1000.0);
      else
        snprintf(le, sizeof le, "+Inf");
      e.sample(address_labels(a) + ",le=\"" + le + "\"", static_cast<double>(cumulative),
               "_bucket");
    }
    e.sample(address_labels(a), static_cast<double>(a.counters.latency_sum_us) / 1e6, "_sum");
    e.sample(address_labels(a), static_cast<double>(a.counters.latency_count), "_count");
  }

  e.family("cubby_job_runs_total", "counter", "Starts of EVENTS and DAEMON commands.");
  for (const auto& j : s.jobs)
    e.sample("kind=\"" + j.kind + "\",name=\"" + label_value(j.name) + "\"",
             static_cast<double>(j.runs));
  e.family("cubby_job_failures_total", "counter",
           "EVENTS and DAEMON runs that failed to start or ended abnormally.");
  for (const auto& j : s.jobs)
    e.sample("kind=\"" + j.kind + "\",name=\"" + label_value(j.name) + "\"",
             static_cast<double>(j.failures));
  return e.text();
}

}  // namespace cubby::server
