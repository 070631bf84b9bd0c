// End-to-end: what an administrator sees of a running Cubby: `cubbyctl status` (table and JSON),
// Prometheus metrics over HTTP on metrics_listen and in metrics_textfile, fed by the workers'
// counters (transactions, recipients by reply code, bytes, hard-link savings, fsyncs, latency).
#include <fstream>
#include <regex>

#include "tests/e2e/master_fixture.h"

namespace cubby::e2e {
namespace {

constexpr const char* kSender = "sender@example.org";
using MetricsE2e = MasterTest;

TEST_F(MetricsE2e, StatusAndMetricsCountWhatTheWorkersDid) {
  const int port = free_tcp_port();
  const std::string textfile = root_.path() + "/cubby.prom";
  ASSERT_NO_FATAL_FAILURE(start_master({"alice", "bob"},
                                       {"metrics_listen: 127.0.0.1:" + std::to_string(port),
                                        "metrics_textfile: " + textfile, "metrics_interval: 1s"},
                                       {}));
  LmtpClient c = unix_client();
  ASSERT_EQ(c.read_reply().code, 220);
  ASSERT_EQ(c.command("LHLO e2e.client").code, 250);
  ASSERT_EQ(c.command("MAIL FROM:<sender@example.org>").code, 250);
  ASSERT_EQ(c.command("RCPT TO:<alice@e2e.test>").code, 250);
  ASSERT_EQ(c.command("RCPT TO:<nobody@e2e.test>").code, 550);
  ASSERT_EQ(c.command("RCPT TO:<bob@e2e.test>").code, 250);
  ASSERT_EQ(c.command("DATA").code, 354);
  const std::string content = test_message("counted@example.org");
  ASSERT_TRUE(c.send_data(content));
  EXPECT_EQ(c.read_reply().code, 250);
  EXPECT_EQ(c.read_reply().code, 250);
  EXPECT_EQ(c.command("QUIT").code, 221);
  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows && rows->size() == 1);
  const double size = static_cast<double>((*rows)[0].size);

  auto status = cubby_->ctl({"status"});
  ASSERT_EQ(status.exit_code, 0) << status.describe();
  // SERVICE LISTEN STATE READY BUSY RETIRING CONNECTIONS DELIVERIES REFUSED DEATHS LAST CONN
  // LAST ERROR
  std::regex row("lmtpunix +" + cubby_->socket_path() +
                 R"( +enabled +1 +0 +0 +[0-9]+ +2 +1 +0/0/0 +[0-9]+s ago +-)");
  EXPECT_NE(status.out.find("\nhealth: ok\n"), std::string::npos) << status.out;
  EXPECT_TRUE(std::regex_search(status.out, row)) << status.out;
  auto json = cubby_->ctl({"status", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.describe();
  EXPECT_NE(json.out.find("\"transactions\":1,\"deliveries\":2,\"refused\":1"), std::string::npos)
      << json.out;

  std::string response = http_get(port, "/metrics");
  ASSERT_EQ(response.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  const std::string m = response.substr(response.find("\r\n\r\n") + 3);
  const std::string unix_labels = "{service=\"lmtpunix\",listen=\"" + cubby_->socket_path() + "\"";
  auto value = [&](const std::string& name, const std::string& extra = "") {
    return metric(m, name + unix_labels + extra + "}");
  };
  EXPECT_EQ(value("cubby_lmtp_transactions_total"), 1.0) << m;
  EXPECT_EQ(value("cubby_lmtp_deliveries_total"), 2.0);
  EXPECT_EQ(value("cubby_lmtp_recipients_total", ",code=\"250\""), 2.0);
  EXPECT_EQ(value("cubby_lmtp_recipients_total", ",code=\"550\""), 1.0);
  EXPECT_EQ(value("cubby_lmtp_received_bytes_total"), size);
  EXPECT_EQ(value("cubby_store_written_bytes_total"), size) << "one stage file, no copy";
  EXPECT_EQ(value("cubby_store_link_saved_bytes_total"), size) << "bob's link saved a copy";
  EXPECT_GE(value("cubby_store_fsyncs_total").value_or(0), 3.0);
  EXPECT_EQ(value("cubby_delivery_latency_seconds_count"), 1.0);
  EXPECT_EQ(value("cubby_delivery_latency_seconds_bucket", ",le=\"+Inf\""), 1.0);
  EXPECT_GE(value("cubby_service_connections_total").value_or(0), 1.0);
  EXPECT_EQ(value("cubby_service_workers", ",state=\"ready\""), 1.0);
  EXPECT_EQ(value("cubby_service_up"), 1.0);
  EXPECT_EQ(value("cubby_service_state", ",state=\"enabled\""), 1.0);
  EXPECT_EQ(value("cubby_service_worker_deaths_total", ",kind=\"busy\""), 0.0);
  EXPECT_LT(value("cubby_service_seconds_since_last_connection").value_or(99), 10.0);
  EXPECT_EQ(metric(m, "cubby_master_disabled_addresses"), 0.0);
  EXPECT_EQ(http_get(port, "/elsewhere").rfind("HTTP/1.0 404", 0), 0u);

  // The textfile catches up within metrics_interval.
  ASSERT_TRUE(eventually(
      [&] {
        std::string t = read_file(textfile).value_or("");
        return metric(t, "cubby_lmtp_transactions_total" + unix_labels + "}") == 1.0;
      },
      5s))
      << read_file(textfile).value_or("(none)");
  auto st = stat_file(textfile);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->st_mode & 0777, 0644u) << "node_exporter must be able to read it";
}

TEST_F(MetricsE2e, MetricsAreServedOnLoopbackOnly) {
  InstanceOptions options;
  options.root = root_.path();
  options.settings = {"metrics_listen: 0.0.0.0:" + std::to_string(free_tcp_port())};
  CubbyInstance instance(options);
  auto error = instance.start();
  ASSERT_TRUE(error) << "the master started with metrics on every address";
  EXPECT_NE(error->find("is not a loopback address"), std::string::npos) << *error;
}

}  // namespace
}  // namespace cubby::e2e
