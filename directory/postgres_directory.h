// PostgresDirectory: the mailbox directory kept in PostgreSQL, reached through libpq.
//
// `conninfo` is a libpq connection string (directory_conninfo); unless it says otherwise the
// connection attempt gives up after 2 s (connect_timeout) and a silent peer is given up after
// 5 s (tcp_user_timeout), so an unreachable directory costs a lookup seconds, not minutes. The
// connection is opened at the first call and kept; when a call finds it broken (PostgreSQL
// restarted, a failover) it reconnects once at once and then answers kUnreachable. After a failed
// connection attempt it does not try again for 1 s: lookups meanwhile answer kUnreachable at once.
//
// Schema (version 1), created on the first connection when missing (under an advisory lock, so
// concurrent first connections do not race; never on a read-only replica, which must see the
// primary's tables):
//   cubby_directory_version(version integer primary key)  -- the schema versions applied
//   cubby_mailbox_users(userid text primary key, backend text, partition text,
//                       state text 'active'|'moving', updated timestamptz)
// A database whose schema version is newer than this program knows is refused (kUnreachable,
// with the reason logged): an old front end must not guess at a newer layout.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "directory/directory.h"

struct pg_conn;

namespace cubby::directory {

inline constexpr int kSchemaVersion = 1;

class PostgresDirectory : public Directory {
 public:
  explicit PostgresDirectory(std::string conninfo);
  ~PostgresDirectory() override;
  PostgresDirectory(const PostgresDirectory&) = delete;
  PostgresDirectory& operator=(const PostgresDirectory&) = delete;

  Result<Location, LookupError> locate(const std::string& userid) override;

  // Administration (cubbyctl directory and mailbox). Each returns why it failed, or nothing.
  // assign() inserts the user or changes where it lives (state 'active').
  [[nodiscard]] std::optional<std::string> assign(const std::string& userid, const Location& where);
  // place() inserts the user only when it has no row (a new user placed by cubbyctl mailbox
  // create) and answers where the user lives afterwards: `where`, or the row another placed first.
  Result<Location, std::string> place(const std::string& userid, const Location& where);
  [[nodiscard]] std::optional<std::string> remove(const std::string& userid);
  // Every user with its location, ordered by userid.
  Result<std::vector<std::pair<std::string, Location>>, std::string> list();

 private:
  // A usable connection with the schema in place, or why there is none.
  std::optional<std::string> connect();
  void disconnect();

  std::string conninfo_;
  pg_conn* conn_ = nullptr;
  std::chrono::steady_clock::time_point retry_after_{};
};

}  // namespace cubby::directory
