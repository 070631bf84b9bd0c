// What cubby-master reports about itself: the status table and JSON of `cubbyctl status`, and the
// Prometheus metrics, rendered from a snapshot built by hand; and how cubbyctl status reads a
// disabled service address back out of each of them.
#include "server/master/master_report.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "server/master/status_client.h"

namespace cubby::server {
namespace {

using namespace std::chrono_literals;

MasterStatus sample() {
  MasterStatus s;
  s.pid = 4242;
  s.user = "cubby:mail";
  s.started = std::chrono::system_clock::from_time_t(1700000000);
  s.now = s.started + 3723s;
  s.settings_path = "/etc/cubby/imapd.conf";
  s.services_path = "/etc/cubby/cyrus.conf";
  s.reloads = 2;
  s.reload_failures = 1;
  s.last_reload = "ok";
  ServiceAddressStatus a;
  a.service = "lmtpunix";
  a.address = "/run/cubby/lmtp";
  a.state = "enabled";
  a.ready = 1;
  a.busy = 2;
  a.connections = 17;
  a.deaths[static_cast<int>(WorkerDeath::kBusy)] = 12;
  a.deaths[static_cast<int>(WorkerDeath::kIdle)] = 1;
  a.listening_since = s.started;
  a.last_connection_at = s.now - 5s;
  a.forks = 3;
  a.counters.transactions = 5;
  a.counters.deliveries = 9;
  a.counters.bytes_received = 5000;
  a.counters.fsyncs = 21;
  a.counters.recipients[250 - kFirstCode] = 9;
  a.counters.recipients[550 - kFirstCode] = 2;
  a.counters.recipients[452 - kFirstCode] = 1;
  a.counters.latency_buckets[0] = 1;  // <= 1 ms
  a.counters.latency_buckets[4] = 4;  // <= 25 ms
  a.counters.latency_count = 5;
  a.counters.latency_sum_us = 61000;
  s.addresses.push_back(a);
  ServiceAddressStatus b;
  b.service = "lmtp";
  b.address = "127.0.0.1:24";
  b.state = "disabled";
  b.failures = 5;
  b.deaths[static_cast<int>(WorkerDeath::kAtStart)] = 5;
  b.disabled_times = 1;
  b.retry_at = s.now + 10s;
  b.listening_since = s.started;
  b.last_error = "disabled: its workers cannot start: 5 exited before they were ready";
  b.last_error_at = s.started + 60s;
  s.addresses.push_back(b);
  JobStatus e;
  e.kind = "event";
  e.name = "prune";
  e.runs = 4;
  e.last_exit = "exited with status 0";
  s.jobs.push_back(e);
  return s;
}

TEST(MasterReport, StatusTableHasOneRowPerAddressWithItsNumbersAndLastError) {
  std::string text = render_status_text(sample());
  EXPECT_NE(text.find("cubby-master pid 4242 running as cubby:mail"), std::string::npos) << text;
  EXPECT_NE(text.find("(up 1h 2m)"), std::string::npos) << text;
  EXPECT_NE(text.find("reloads: 2"), std::string::npos) << text;
  EXPECT_TRUE(std::regex_search(
      text,
      std::regex(R"(lmtpunix +/run/cubby/lmtp +enabled +1 +2 +0 +17 +9 +3 +0/1/12 +5s ago +-\n)")))
      << text;
  EXPECT_TRUE(std::regex_search(
      text, std::regex(R"(lmtp +127\.0\.0\.1:24 +disabled +0 +0 +0 +0 +0 +0 +5/0/0 +- +\S+ )"
                       R"(disabled: its workers cannot start)")))
      << text;
  EXPECT_NE(text.find("\nhealth: DISABLED service \"lmtp\" (127.0.0.1:24) (next try "),
            std::string::npos)
      << text;
  EXPECT_TRUE(std::regex_search(text, std::regex(R"(event +prune +- +4 +0 +exited with status 0)")))
      << text;
}

TEST(MasterReport, StatusJsonCarriesTheSameFields) {
  std::string json = render_status_json(sample());
  EXPECT_NE(json.find("\"pid\":4242"), std::string::npos) << json;
  EXPECT_NE(
      json.find("{\"service\":\"lmtpunix\",\"listen\":\"/run/cubby/lmtp\",\"state\":\"enabled\","
                "\"ready\":1,\"busy\":2"),
      std::string::npos)
      << json;
  EXPECT_NE(json.find("\"deliveries\":9,\"refused\":3"), std::string::npos) << json;
  EXPECT_NE(json.find("\"last_error\":\"disabled: its workers cannot start"), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"healthy\":false,\"disabled\":[\"service \\\"lmtp\\\" (127.0.0.1:24)\"]"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"worker_deaths\":{\"at_start\":0,\"idle\":1,\"busy\":12}"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"seconds_since_connection\":5"), std::string::npos) << json;
  EXPECT_EQ(json.back(), '\n');
}

TEST(MasterReport, MetricsFollowThePrometheusTextFormat) {
  std::string m = render_metrics(sample());
  const std::string unix_labels = "service=\"lmtpunix\",listen=\"/run/cubby/lmtp\"";
  for (const std::string& line : {
           std::string("cubby_master_reloads_total 2"),
           std::string("cubby_master_reload_failures_total 1"),
           std::string("cubby_master_disabled_addresses 1"),
           "cubby_service_state{" + unix_labels + ",state=\"enabled\"} 1",
           "cubby_service_state{" + unix_labels + ",state=\"disabled\"} 0",
           std::string("cubby_service_state{service=\"lmtp\",listen=\"127.0.0.1:24\",state="
                       "\"disabled\"} 1"),
           std::string(
               "cubby_service_state{service=\"lmtp\",listen=\"127.0.0.1:24\",state=\"enabled\"} 0"),
           std::string("cubby_service_disabled_total{service=\"lmtp\",listen=\"127.0.0.1:24\"} 1"),
           std::string("cubby_service_worker_deaths_total{service=\"lmtp\",listen=\"127.0.0.1:24\","
                       "kind=\"at_start\"} 5"),
           "cubby_service_worker_deaths_total{" + unix_labels + ",kind=\"busy\"} 12",
           "cubby_service_worker_deaths_total{" + unix_labels + ",kind=\"idle\"} 1",
           "cubby_service_worker_deaths_total{" + unix_labels + ",kind=\"at_start\"} 0",
           "cubby_service_seconds_since_last_connection{" + unix_labels + "} 5",
           // None yet: counted from when it began listening.
           std::string("cubby_service_seconds_since_last_connection{service=\"lmtp\",listen=\"127."
                       "0.0.1:24\"} 3723"),
           "cubby_service_up{" + unix_labels + "} 1",
           std::string("cubby_service_up{service=\"lmtp\",listen=\"127.0.0.1:24\"} 0"),
           "cubby_service_connections_total{" + unix_labels + "} 17",
           "cubby_service_workers{" + unix_labels + ",state=\"busy\"} 2",
           "cubby_lmtp_transactions_total{" + unix_labels + "} 5",
           "cubby_lmtp_recipients_total{" + unix_labels + ",code=\"550\"} 2",
           "cubby_lmtp_recipients_total{" + unix_labels + ",code=\"452\"} 1",
           "cubby_lmtp_received_bytes_total{" + unix_labels + "} 5000",
           "cubby_store_fsyncs_total{" + unix_labels + "} 21",
           "cubby_delivery_latency_seconds_bucket{" + unix_labels + ",le=\"0.001\"} 1",
           "cubby_delivery_latency_seconds_bucket{" + unix_labels + ",le=\"0.01\"} 1",
           "cubby_delivery_latency_seconds_bucket{" + unix_labels + ",le=\"0.025\"} 5",
           "cubby_delivery_latency_seconds_bucket{" + unix_labels + ",le=\"+Inf\"} 5",
           "cubby_delivery_latency_seconds_sum{" + unix_labels + "} 0.061000",
           "cubby_delivery_latency_seconds_count{" + unix_labels + "} 5",
           std::string("cubby_job_runs_total{kind=\"event\",name=\"prune\"} 4"),
       }) {
    EXPECT_NE(m.find("\n" + line + "\n"), std::string::npos) << line << "\n" << m;
  }
  // Codes never seen are not listed; every family has exactly one HELP and one TYPE line.
  EXPECT_EQ(m.find("code=\"251\""), std::string::npos);
  std::regex sample_line(R"(^[a-z_]+(\{[a-z]+="[^"\\]*"(,[a-z]+="[^"\\]*")*\})? [0-9.e+-]+$)");
  std::regex comment(R"(^# (HELP|TYPE) [a-z_]+ .+$)");
  std::set<std::string> typed;
  size_t pos = 0;
  while (pos < m.size()) {
    size_t nl = m.find('\n', pos);
    ASSERT_NE(nl, std::string::npos) << "the last line must end with a newline";
    std::string line = m.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(typed.insert(name).second) << "two TYPE lines for " << name;
    }
    EXPECT_TRUE(std::regex_match(line, sample_line) || std::regex_match(line, comment)) << line;
  }
  EXPECT_GE(typed.size(), 15u);
}

TEST(MasterReport, HealthIsOkWhenEveryAddressAccepts) {
  MasterStatus s = sample();
  EXPECT_EQ(disabled_addresses(s), std::vector<std::string>{"service \"lmtp\" (127.0.0.1:24)"});
  s.addresses[1].state = "enabled";
  EXPECT_TRUE(disabled_addresses(s).empty());
  EXPECT_NE(render_status_text(s).find("\nhealth: ok\n"), std::string::npos);
  EXPECT_NE(render_status_json(s).find("\"healthy\":true,\"disabled\":[]"), std::string::npos);
  EXPECT_NE(render_metrics(s).find("\ncubby_master_disabled_addresses 0\n"), std::string::npos);
  s.addresses[1].state = "removed";  // a reload removed it: not a fault
  EXPECT_TRUE(disabled_addresses(s).empty());
}

TEST(MasterReport, CubbyctlStatusFindsTheDisabledAddressInEveryRendering) {
  MasterStatus s = sample();
  auto text = disabled_in_answer("status", render_status_text(s));
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("service \"lmtp\" (127.0.0.1:24)"), std::string::npos) << *text;
  auto json = disabled_in_answer("status json", render_status_json(s));
  ASSERT_TRUE(json);
  EXPECT_NE(json->find("127.0.0.1:24"), std::string::npos) << *json;
  EXPECT_TRUE(disabled_in_answer("metrics", render_metrics(s)));
  s.addresses[1].state = "enabled";
  EXPECT_FALSE(disabled_in_answer("status", render_status_text(s)));
  EXPECT_FALSE(disabled_in_answer("status json", render_status_json(s)));
  EXPECT_FALSE(disabled_in_answer("metrics", render_metrics(s)));
}

TEST(MasterReport, LabelValuesAreEscaped) {
  MasterStatus s = sample();
  s.addresses[0].address = "/tmp/a\"b\\c";
  std::string m = render_metrics(s);
  EXPECT_NE(m.find("listen=\"/tmp/a\\\"b\\\\c\""), std::string::npos) << m;
}

}  // namespace
}  // namespace cubby::server
