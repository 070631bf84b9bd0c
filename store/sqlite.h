// Thin RAII owners for SQLite: a connection (Db) and a prepared statement (Statement).
//
// A Db is used by one thread only. exec() and the Statement steps return an Error value on failure;
// a statement is reset after each use so it can be kept and reused (the hot paths prepare once).
// Transaction opens BEGIN IMMEDIATE (so writers queue on the database lock instead of failing to
// upgrade) and rolls back on destruction unless commit() succeeded.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "conf/result.h"
#include "store/error.h"

namespace cubby::store {

class Db {
 public:
  // Opens (creating if needed) the database at `path` in WAL mode with synchronous=FULL.
  static Result<Db, Error> open(const std::string& path, bool read_only = false);
  Db(Db&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Db& operator=(Db&& o) noexcept;
  ~Db();

  [[nodiscard]] std::optional<Error> exec(const char* sql);
  sqlite3* handle() const { return db_; }
  Error error(const std::string& what) const;
  int64_t changes() const { return sqlite3_changes64(db_); }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

class Statement {
 public:
  Statement() = default;
  Statement(Db& db, const char* sql);  // a bad statement is a bug: throws std::logic_error
  Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement& operator=(Statement&& o) noexcept;
  ~Statement();

  Statement& bind(int index, int64_t v);
  Statement& bind(int index, std::string_view v);
  Statement& bind_blob(int index, const void* data, size_t size);
  Statement& bind_null(int index);
  // Steps once: true with a row, false when done; an Error on failure.
  Result<bool, Error> step();
  // Steps to completion, then resets.
  [[nodiscard]] std::optional<Error> run();
  void reset();

  int64_t int_at(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string text_at(int col) const;
  bool null_at(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string blob_at(int col) const;

 private:
  Db* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Transaction {
 public:
  static Result<Transaction, Error> begin(Db& db);
  Transaction(Transaction&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  ~Transaction();
  [[nodiscard]] std::optional<Error> commit();

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;
};

}  // namespace cubby::store
