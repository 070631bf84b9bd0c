// The mailbox directory in PostgreSQL through libpq; see postgres_directory.h.
#include "directory/postgres_directory.h"

#include <libpq-fe.h>

#include <utility>

#include "conf/log.h"

namespace cubby::directory {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::seconds kRetryDelay{1};
// Any constant: serialises schema creation among front ends connecting at once.
constexpr const char* kSchemaLock = "SELECT pg_advisory_xact_lock(4242160001)";

// Owns a PGresult.
struct ResultOwner {
  PGresult* r;
  explicit ResultOwner(PGresult* result) : r(result) {}
  ~ResultOwner() { PQclear(r); }
  ResultOwner(const ResultOwner&) = delete;
  ResultOwner& operator=(const ResultOwner&) = delete;
  ExecStatusType status() const { return PQresultStatus(r); }
};

std::string trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool command_ok(pg_conn* conn, const char* sql, std::string* why) {
  ResultOwner res(PQexec(conn, sql));
  if (res.status() == PGRES_COMMAND_OK || res.status() == PGRES_TUPLES_OK) return true;
  *why = trimmed(PQerrorMessage(conn));
  return false;
}

// The schema version in the database; 0 when the version table does not exist; -1 on error.
int schema_version(pg_conn* conn, std::string* why) {
  ResultOwner exists(PQexec(conn, "SELECT to_regclass('cubby_directory_version') IS NOT NULL"));
  if (exists.status() != PGRES_TUPLES_OK) {
    *why = trimmed(PQerrorMessage(conn));
    return -1;
  }
  if (std::string(PQgetvalue(exists.r, 0, 0)) != "t") return 0;
  ResultOwner version(PQexec(conn, "SELECT coalesce(max(version), 0) FROM cubby_directory_version"));
  if (version.status() != PGRES_TUPLES_OK) {
    *why = trimmed(PQerrorMessage(conn));
    return -1;
  }
  return std::atoi(PQgetvalue(version.r, 0, 0));
}

bool create_schema(pg_conn* conn, std::string* why) {
  static const char* const kSteps[] = {
      "BEGIN",
      kSchemaLock,
      "CREATE TABLE IF NOT EXISTS cubby_directory_version (version integer PRIMARY KEY)",
      "CREATE TABLE IF NOT EXISTS cubby_mailbox_users ("
      " userid text PRIMARY KEY,"
      " backend text NOT NULL,"
      " partition text NOT NULL DEFAULT 'default',"
      " state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'moving')),"
      " updated timestamptz NOT NULL DEFAULT now())",
      "INSERT INTO cubby_directory_version (version) VALUES (1) ON CONFLICT DO NOTHING",
      "COMMIT",
  };
  for (const char* step : kSteps) {
    if (!command_ok(conn, step, why)) {
      std::string ignored;
      (void)command_ok(conn, "ROLLBACK", &ignored);
      return false;
    }
  }
  return true;
}

bool broken(pg_conn* conn) { return conn == nullptr || PQstatus(conn) != CONNECTION_OK; }

}  // namespace

PostgresDirectory::PostgresDirectory(std::string conninfo) : conninfo_(std::move(conninfo)) {}

PostgresDirectory::~PostgresDirectory() { disconnect(); }

void PostgresDirectory::disconnect() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
}

std::optional<std::string> PostgresDirectory::connect() {
  if (!broken(conn_)) return std::nullopt;
  disconnect();
  if (Clock::now() < retry_after_) return std::string("directory unreachable (retrying shortly)");
  // Defaults first: the connection string (expanded from dbname) overrides them.
  const char* keys[] = {"connect_timeout", "tcp_user_timeout", "application_name", "dbname",
                        nullptr};
  const char* values[] = {"2", "5000", "cubby", conninfo_.c_str(), nullptr};
  conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  std::string why;
  if (broken(conn_)) {
    why = trimmed(conn_ ? PQerrorMessage(conn_) : "out of memory");
  } else {
    int version = schema_version(conn_, &why);
    if (version == 0) {
      if (create_schema(conn_, &why)) version = schema_version(conn_, &why);
    }
    if (version > kSchemaVersion) {
      why = "directory schema version " + std::to_string(version) +
            " is newer than this Cubby knows (" + std::to_string(kSchemaVersion) + ")";
    } else if (version > 0) {
      return std::nullopt;
    }
  }
  CUBBY_LOG_WARNING("directory: cannot use PostgreSQL: %s", why.c_str());
  disconnect();
  retry_after_ = Clock::now() + kRetryDelay;
  return why;
}

Result<Location, LookupError> PostgresDirectory::locate(const std::string& userid) {
  // Twice at most: a connection found broken (a restart, a failover) is replaced once at once.
  std::string why;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto error = connect()) return fail(LookupError{Fault::kUnreachable, *error});
    const char* params[] = {userid.c_str()};
    ResultOwner res(PQexecParams(
        conn_, "SELECT backend, partition FROM cubby_mailbox_users WHERE userid = $1", 1, nullptr,
        params, nullptr, nullptr, 0));
    if (res.status() == PGRES_TUPLES_OK) {
      if (PQntuples(res.r) == 0) return fail(LookupError{Fault::kUnknownUser, "no such user"});
      return Location{PQgetvalue(res.r, 0, 0), PQgetvalue(res.r, 0, 1)};
    }
    why = trimmed(PQerrorMessage(conn_));
    if (!broken(conn_)) break;  // a query error on a working connection: do not loop
    disconnect();
  }
  CUBBY_LOG_WARNING("directory: lookup of %s failed: %s", userid.c_str(), why.c_str());
  return fail(LookupError{Fault::kUnreachable, why});
}

std::optional<std::string> PostgresDirectory::assign(const std::string& userid,
                                                     const Location& where) {
  if (auto error = connect()) return error;
  const char* params[] = {userid.c_str(), where.backend.c_str(), where.partition.c_str()};
  ResultOwner res(PQexecParams(
      conn_,
      "INSERT INTO cubby_mailbox_users (userid, backend, partition, state) "
      "VALUES ($1, $2, $3, 'active') ON CONFLICT (userid) DO UPDATE SET backend = $2, "
      "partition = $3, state = 'active', updated = now()",
      3, nullptr, params, nullptr, nullptr, 0));
  if (res.status() != PGRES_COMMAND_OK) return trimmed(PQerrorMessage(conn_));
  return std::nullopt;
}

Result<Location, std::string> PostgresDirectory::place(const std::string& userid,
                                                       const Location& where) {
  if (auto error = connect()) return fail(*error);
  const char* params[] = {userid.c_str(), where.backend.c_str(), where.partition.c_str()};
  ResultOwner res(PQexecParams(
      conn_,
      "INSERT INTO cubby_mailbox_users (userid, backend, partition, state) "
      "VALUES ($1, $2, $3, 'active') ON CONFLICT (userid) DO NOTHING",
      3, nullptr, params, nullptr, nullptr, 0));
  if (res.status() != PGRES_COMMAND_OK) return fail(trimmed(PQerrorMessage(conn_)));
  if (std::string(PQcmdTuples(res.r)) == "1") return where;
  auto now = locate(userid);
  if (!now.ok()) return fail(now.error().detail);
  return now.value();
}

std::optional<std::string> PostgresDirectory::remove(const std::string& userid) {
  if (auto error = connect()) return error;
  const char* params[] = {userid.c_str()};
  ResultOwner res(PQexecParams(conn_, "DELETE FROM cubby_mailbox_users WHERE userid = $1", 1,
                               nullptr, params, nullptr, nullptr, 0));
  if (res.status() != PGRES_COMMAND_OK) return trimmed(PQerrorMessage(conn_));
  return std::nullopt;
}

Result<std::vector<std::pair<std::string, Location>>, std::string> PostgresDirectory::list() {
  if (auto error = connect()) return fail(*error);
  ResultOwner res(
      PQexec(conn_, "SELECT userid, backend, partition FROM cubby_mailbox_users ORDER BY userid"));
  if (res.status() != PGRES_TUPLES_OK) return fail(trimmed(PQerrorMessage(conn_)));
  std::vector<std::pair<std::string, Location>> users;
  for (int i = 0; i < PQntuples(res.r); ++i) {
    users.emplace_back(PQgetvalue(res.r, i, 0),
                       Location{PQgetvalue(res.r, i, 1), PQgetvalue(res.r, i, 2)});
  }
  return users;
}

}  // namespace cubby::directory
