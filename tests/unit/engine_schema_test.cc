#include "store/engine_schema.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <set>
#include <string>

#include "store/sql_text.h"

namespace sv::store {
namespace {

// Runs `sql` on `db`; the error text on failure.
std::string Exec(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) == SQLITE_OK) return "";
  std::string out = error != nullptr ? error : "error";
  sqlite3_free(error);
  return out;
}

std::set<std::string> Names(sqlite3* db, const char* type) {
  std::set<std::string> out;
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type = ?1", -1, &stmt, nullptr);
  sqlite3_bind_text(stmt, 1, type, -1, SQLITE_STATIC);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    out.insert(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  }
  sqlite3_finalize(stmt);
  return out;
}

TEST(EngineSchemaTest, SqliteStepsCreateEveryEngineTableAndRunTwiceHarmlessly) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  for (int pass = 0; pass < 2; ++pass) {
    for (int v = 0; v < EngineSchemaVersion(); ++v) {
      EXPECT_EQ(Exec(db, EngineSchemaStep(v, SqlDialect::Sqlite(), "")), "") << "step " << v;
    }
  }
  EXPECT_EQ(Names(db, "table"),
            (std::set<std::string>{"sv_log", "sv_keys", "sv_pending", "sv_dead_letters",
                                   "sv_event_ids", "sv_positions", "sv_counters",
                                   "sv_view_versions", "sv_dead_letter_outbox",
                                   "sv_view_version_notes", "sv_deleted_versions", "sv_log_orgs"}));
  EXPECT_EQ(Names(db, "index").count("sv_pending__by_key"), 1u);
  // The integer keys are rowid aliases: an insert without one is assigned the next.
  EXPECT_EQ(Exec(db, "INSERT INTO sv_log(log_time_us, key, raw) VALUES(1, 'k', '{}')"), "");
  EXPECT_EQ(sqlite3_last_insert_rowid(db), 1);
  // The CHECK and NOT NULL constraints hold.
  EXPECT_NE(Exec(db,
                 "INSERT INTO sv_dead_letters VALUES(1, 's', 0, 0, 'k', 'r', '{}', 0, "
                 "'lost', 0)"),
            "");
  EXPECT_NE(Exec(db, "INSERT INTO sv_keys VALUES('s', 'k', NULL, 0)"), "");
  sqlite3_close(db);
}

TEST(EngineSchemaTest, PostgresStepsQualifyTheSchemaAndCompareKeysBytewise) {
  const std::string ddl = EngineSchemaStep(0, SqlDialect::Postgres(), "\"eng\".");
  EXPECT_NE(ddl.find("CREATE TABLE IF NOT EXISTS \"eng\".\"sv_keys\""), std::string::npos);
  EXPECT_NE(ddl.find("\"source\" text COLLATE \"C\" NOT NULL"), std::string::npos);
  EXPECT_NE(ddl.find("\"held\" boolean NOT NULL"), std::string::npos);
  EXPECT_NE(ddl.find("ON \"eng\".\"sv_pending\"("), std::string::npos);
  EXPECT_EQ(ddl.find("WITHOUT ROWID"), std::string::npos);
}

}  // namespace
}  // namespace sv::store
