// PgCluster: a private PostgreSQL cluster for a test, in a temporary directory.
//
// start() runs initdb (trust authentication, superuser `cubby`, no fsync) and pg_ctl in a fresh
// temporary directory, listening on 127.0.0.1 at a free port and on a UNIX socket in that
// directory only; the system's clusters and /etc/postgresql are never used. initdb refuses to run
// as root, so under root the cluster runs as `nobody` (runuser), which then owns the directory.
// stop() and start() again keep the data (to test a directory that goes away and comes back); the
// destructor stops the server and removes the directory.
//
// available() says whether initdb and pg_ctl are installed. A test without them skips, except
// under CI=true, where a missing PostgreSQL is a failure (use PG_REQUIRE_OR_SKIP).
#pragma once

#include <string>

namespace cubby::test {

class PgCluster {
 public:
  PgCluster();
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  static bool available();
  // Creates the cluster on the first call, then starts the server; "" or what went wrong.
  std::string start();
  // Stops the server (fast shutdown); the data stays.
  std::string stop();
  bool running() const { return running_; }

  int port() const { return port_; }
  // A libpq connection string for the database `postgres` over loopback TCP.
  std::string conninfo() const;
  // Runs SQL through psql as the superuser; "" or psql's complaint.
  std::string psql(const std::string& sql) const;

 private:
  std::string run(const std::string& command) const;

  std::string dir_;
  int port_ = 0;
  bool created_ = false;
  bool running_ = false;
};

}  // namespace cubby::test

// In a test body or SetUp(): skips when PostgreSQL is missing, fails under CI=true.
#define PG_REQUIRE_OR_SKIP()                                                          \
  do {                                                                                \
    if (!::cubby::test::PgCluster::available()) {                                     \
      const char* ci = std::getenv("CI");                                             \
      if (ci != nullptr && std::string(ci) == "true") {                               \
        FAIL() << "PostgreSQL (initdb, pg_ctl) is missing: run scripts/install-deps"; \
      }                                                                               \
      GTEST_SKIP() << "PostgreSQL (initdb, pg_ctl) is not installed";                 \
    }                                                                                 \
  } while (0)
