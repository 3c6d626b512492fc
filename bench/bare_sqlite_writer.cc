// The physical limit a rebuild is measured against: a bare SQLite loop (no StreamView code)
// writing the same final rows. It copies the active view tables of a store into memory, then
// times inserting them, in primary-key order, into identical empty tables of a fresh database
// with the same pragmas (WAL, synchronous=NORMAL), one prepared INSERT per row, one transaction,
// then the same secondary indexes.
//
//   bare_sqlite_writer --from built.db --to scratch.db orders_view order_items_view

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <variant>
#include <vector>

namespace {

using Cell = std::variant<std::monostate, int64_t, double, std::string>;

void Check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

void Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "%s: %s\n", sql.c_str(), err);
    std::exit(1);
  }
}

// The physical table behind a view name ("CREATE VIEW v AS SELECT * FROM "v__v3"").
std::string PhysicalTable(sqlite3* db, const std::string& view) {
  sqlite3_stmt* st;
  Check(sqlite3_prepare_v2(db, "SELECT table_name FROM sv_view_versions WHERE view = ? AND active",
                           -1, &st, nullptr),
        db, "prepare");
  sqlite3_bind_text(st, 1, view.c_str(), -1, SQLITE_TRANSIENT);
  std::string table;
  if (sqlite3_step(st) == SQLITE_ROW)
    table = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  if (table.empty()) {
    std::fprintf(stderr, "no active version of %s\n", view.c_str());
    std::exit(1);
  }
  return table;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6 || std::strcmp(argv[1], "--from") != 0 || std::strcmp(argv[3], "--to") != 0) {
    std::fprintf(stderr, "usage: %s --from DB --to NEWDB VIEW...\n", argv[0]);
    return 2;
  }
  sqlite3* from;
  Check(sqlite3_open(argv[2], &from), from, "open");
  std::remove(argv[4]);
  sqlite3* to;
  Check(sqlite3_open(argv[4], &to), to, "open");
  Exec(to, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-262144;");

  struct Table {
    std::string name, create;
    std::vector<std::string> indexes;  // CREATE INDEX statements, run after the load
    int columns = 0;
    std::vector<Cell> cells;
  };
  std::vector<Table> tables;
  size_t rows = 0;
  for (int i = 5; i < argc; ++i) {
    Table t;
    t.name = PhysicalTable(from, argv[i]);
    sqlite3_stmt* st;
    Check(sqlite3_prepare_v2(from, "SELECT sql FROM sqlite_master WHERE type='table' AND name=?",
                             -1, &st, nullptr),
          from, "prepare");
    sqlite3_bind_text(st, 1, t.name.c_str(), -1, SQLITE_TRANSIENT);
    Check(sqlite3_step(st), from, "schema");
    t.create = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    Check(sqlite3_prepare_v2(from,
                             "SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name=? "
                             "AND sql IS NOT NULL",
                             -1, &st, nullptr),
          from, "prepare");
    sqlite3_bind_text(st, 1, t.name.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
      t.indexes.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    }
    sqlite3_finalize(st);
    // Rows in primary-key order (a WITHOUT ROWID table scans in key order).
    Check(sqlite3_prepare_v2(from, ("SELECT * FROM \"" + t.name + "\"").c_str(), -1, &st, nullptr),
          from, "prepare scan");
    t.columns = sqlite3_column_count(st);
    while (sqlite3_step(st) == SQLITE_ROW) {
      for (int c = 0; c < t.columns; ++c) {
        switch (sqlite3_column_type(st, c)) {
          case SQLITE_INTEGER:
            t.cells.emplace_back(static_cast<int64_t>(sqlite3_column_int64(st, c)));
            break;
          case SQLITE_FLOAT:
            t.cells.emplace_back(sqlite3_column_double(st, c));
            break;
          case SQLITE_NULL:
            t.cells.emplace_back(std::monostate{});
            break;
          default:
            t.cells.emplace_back(
                std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, c))));
        }
      }
      ++rows;
    }
    sqlite3_finalize(st);
    tables.push_back(std::move(t));
  }

  const auto start = std::chrono::steady_clock::now();
  Exec(to, "BEGIN");
  for (const Table& t : tables) {
    Exec(to, t.create);
    std::string sql = "INSERT INTO \"" + t.name + "\" VALUES (";
    for (int c = 0; c < t.columns; ++c) sql += c ? ",?" : "?";
    sql += ")";
    sqlite3_stmt* ins;
    Check(sqlite3_prepare_v2(to, sql.c_str(), -1, &ins, nullptr), to, "prepare insert");
    for (size_t base = 0; base < t.cells.size(); base += t.columns) {
      for (int c = 0; c < t.columns; ++c) {
        const Cell& cell = t.cells[base + c];
        if (auto* i = std::get_if<int64_t>(&cell)) {
          sqlite3_bind_int64(ins, c + 1, *i);
        } else if (auto* d = std::get_if<double>(&cell)) {
          sqlite3_bind_double(ins, c + 1, *d);
        } else if (auto* s = std::get_if<std::string>(&cell)) {
          sqlite3_bind_text(ins, c + 1, s->data(), static_cast<int>(s->size()), SQLITE_STATIC);
        } else {
          sqlite3_bind_null(ins, c + 1);
        }
      }
      Check(sqlite3_step(ins), to, "insert");
      sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    for (const std::string& index : t.indexes) Exec(to, index);
  }
  Exec(to, "COMMIT");
  Exec(to, "PRAGMA wal_checkpoint(TRUNCATE)");
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"rows\":%zu,\"seconds\":%.3f,\"rows_per_second\":%.0f}\n", rows, secs,
              rows / secs);
  sqlite3_close(to);
  sqlite3_close(from);
  return 0;
}
