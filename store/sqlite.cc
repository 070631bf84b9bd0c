// RAII owners for SQLite connections, statements and transactions; see sqlite.h.
#include "store/sqlite.h"

#include <stdexcept>

namespace cubby::store {

Result<Db, Error> Db::open(const std::string& path, bool read_only) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_NOMUTEX | (read_only ? SQLITE_OPEN_READONLY
                                               : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) return fail(db.error("open " + path));
  sqlite3_busy_timeout(raw, 60000);
  // WAL lets the workers' readers run while one committer writes; FULL makes every commit durable.
  if (!read_only) {
    if (auto e = db.exec("PRAGMA journal_mode=WAL")) return fail(*e);
  }
  if (auto e = db.exec("PRAGMA synchronous=FULL")) return fail(*e);
  if (auto e = db.exec("PRAGMA foreign_keys=ON")) return fail(*e);
  return db;
}

Db& Db::operator=(Db&& o) noexcept {
  if (this != &o) {
    if (db_) sqlite3_close_v2(db_);
    db_ = o.db_;
    o.db_ = nullptr;
  }
  return *this;
}

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

std::optional<Error> Db::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    Error e{Errc::kIo, std::string("sqlite: ") + (msg ? msg : "error") + " in: " + sql};
    sqlite3_free(msg);
    return e;
  }
  return std::nullopt;
}

Error Db::error(const std::string& what) const {
  int code = db_ ? sqlite3_errcode(db_) : SQLITE_CANTOPEN;
  Errc errc = code == SQLITE_FULL ? Errc::kNoSpace
              : code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? Errc::kCorrupt
                                                                  : Errc::kIo;
  return Error{errc, what + ": " + (db_ ? sqlite3_errmsg(db_) : "cannot open database")};
}

Statement::Statement(Db& db, const char* sql) : db_(&db) {
  if (sqlite3_prepare_v3(db.handle(), sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) !=
      SQLITE_OK) {
    throw std::logic_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db.handle()) +
                           " in: " + sql);
  }
}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = o.stmt_;
    o.stmt_ = nullptr;
  }
  return *this;
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int index, int64_t v) {
  sqlite3_bind_int64(stmt_, index, v);
  return *this;
}
Statement& Statement::bind(int index, std::string_view v) {
  sqlite3_bind_text(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::bind_blob(int index, const void* data, size_t size) {
  sqlite3_bind_blob(stmt_, index, data, static_cast<int>(size), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Result<bool, Error> Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error e = db_->error(std::string("sqlite step: ") + sqlite3_sql(stmt_));
  sqlite3_reset(stmt_);
  return fail(e);
}

std::optional<Error> Statement::run() {
  for (;;) {
    auto r = step();
    if (!r.ok()) return r.error();
    if (!r.value()) break;
  }
  reset();
  return std::nullopt;
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Statement::text_at(int col) const {
  auto p = sqlite3_column_text(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col))
           : std::string();
}

std::string Statement::blob_at(int col) const {
  auto p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
}

Result<Transaction, Error> Transaction::begin(Db& db) {
  if (auto e = db.exec("BEGIN IMMEDIATE")) return fail(*e);
  return Transaction(&db);
}

Transaction::~Transaction() {
  // Nothing to report: a transaction that was not committed is not there, whether this ROLLBACK
  // works or SQLite already rolled it back after the error that brought us here.
  if (db_) (void)db_->exec("ROLLBACK");
}

std::optional<Error> Transaction::commit() {
  if (auto e = db_->exec("COMMIT")) return e;
  db_ = nullptr;
  return std::nullopt;
}

}  // namespace cubby::store
