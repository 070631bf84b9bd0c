// ScaleOut: the fixture of the scale-out tests (issue 16, docs/scale-out.md): a private PostgreSQL
// cluster holding the mailbox directory (tests/pg/pg_cluster.h), back ends that are real
// cubby-master instances (tests/e2e/instance.h) and a front end, a further cubby-master whose
// service `lmtpfe` runs `lmtpd -P -a`.
//
// Each back end b is named `be<b>` (its servername: its 250 replies carry SESSIONID=<be<b>-...>, so
// a test can tell whose reply a recipient got), makes INBOXes on first delivery, and serves the
// front end on a service `lmtpbe` (`lmtpd -a`) at a loopback port the fixture picks once, below the
// kernel's ephemeral range, and keeps across restarts: the directory names that port, so a back end
// killed and started again is the same back end to the front end. User u is `user<u>`, placed on
// back end u % backends.
//
// Helpers return values instead of asserting, so client threads can call them; the checks
// (expect_stored_once) assert. Only processes the fixture started are ever signalled.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/e2e/instance.h"
#include "tests/e2e/lmtp_client.h"
#include "tests/pg/pg_cluster.h"

namespace cubby::scaleout {

using e2e::CubbyInstance;
using e2e::LmtpClient;
using e2e::LmtpReply;
using e2e::TempDir;
using namespace std::chrono_literals;

struct ClusterOptions {
  int backends = 3;
  int users = 30;
  // Front-end workers (prefork and maxchild of lmtpfe). Each worker has its own directory cache.
  int front_workers = 1;
  std::vector<std::string> front_settings;  // extra imapd.conf lines of the front end
};

// One message through the front end: a reply per RCPT, then one per accepted recipient after the
// final dot. `error` says what went wrong in the dialogue itself ("" when it ran to the end).
struct Exchange {
  std::vector<LmtpReply> rcpt;
  std::vector<LmtpReply> final;
  std::string error;
  // The reply that decides recipient k's fate: its RCPT refusal, or its reply after the message.
  const LmtpReply& outcome(size_t k) const;
};

// A stored message file on a back end.
struct Stored {
  ino_t inode = 0;
  nlink_t links = 0;
  std::string user;
};

// The content of test message `id`: a fixed Date, Message-ID <id@scaleout.test> and X-Test-Id: id.
std::string test_message(const std::string& id);
std::string user_name(int u);
// An integer from the environment, or `fallback` when unset or not a positive number.
int env_count(const char* name, int fallback);

class ScaleOut : public ::testing::Test {
 public:
  // RSET, MAIL FROM, one RCPT per address, and (if any was accepted) DATA with test_message(id).
  static Exchange send(LmtpClient& client, const std::string& id,
                       const std::vector<std::string>& addresses);
  // The same to users by number.
  static Exchange send_to_users(LmtpClient& client, const std::string& id,
                                const std::vector<int>& users);

 protected:
  void SetUp() override;  // starts PostgreSQL (skips without it, fails under CI=true)
  void TearDown() override;

  // Starts the back ends, places the users, starts the front end.
  // Use as ASSERT_NO_FATAL_FAILURE(start_cluster(...)).
  void start_cluster(const ClusterOptions& options);

  int home_of(int u) const { return u % options_.backends; }
  // The back end's LMTP address as the directory holds it ("127.0.0.1:<port>").
  std::string backend_address(int b) const;
  CubbyInstance& backend(int b) { return *backends_[b]; }
  CubbyInstance& front() { return *front_; }
  int front_port() const { return front_port_; }
  test::PgCluster& pg() { return *pg_; }

  // A connection to the front end, greeted and after LHLO; false and *why on failure.
  bool connect_front(LmtpClient& client, std::string* why) const;

  // SIGSTOPs back end b's master, SIGKILLs its workers and then the master (CubbyInstance::crash).
  void crash_backend(int b);
  // Starts back end b again on its store and port; returns why not, or "".
  std::string restart_backend(int b);

  // Every stored message of every user on back end b, by X-Test-Id.
  std::multimap<std::string, Stored> stored_on(int b);
  // Every message of `sent` (id -> users, in RCPT order) is stored exactly once for each of its
  // users, on the user's back end and nowhere else, and nothing else is stored. With
  // `one_inode_on`, each message on those back ends is one inode linked once per recipient there.
  void expect_stored_once(const std::map<std::string, std::vector<int>>& sent,
                          const std::set<int>& one_inode_on);

  ClusterOptions options_;
  std::unique_ptr<test::PgCluster> pg_;
  std::vector<std::unique_ptr<TempDir>> roots_;
  std::vector<std::unique_ptr<CubbyInstance>> backends_;
  std::vector<int> backend_ports_;
  std::unique_ptr<CubbyInstance> front_;
  int front_port_ = 0;
};

}  // namespace cubby::scaleout
