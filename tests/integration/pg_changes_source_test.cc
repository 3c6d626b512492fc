// The change-feed source against a real PostgreSQL (SV_TEST_PG_DSN, wal_level=logical as
// scripts/pg.sh starts it): what it reports as the end of the stream. `--exit-when-caught-up`
// and the lag compare the engine's applied position with EndOffsets, so the source may report
// an end equal to what it handed out only once the server said there is nothing more (a
// barrier message came back); before that, transactions committed earlier may still be on
// their way. Seen under CI load: the end was taken from the last data message's WAL position,
// a run called itself caught up halfway through the backlog and stopped.

#include "source/pg_changes/pg_changes_source.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace sv::source {
namespace {

class PgChangesSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dsn = std::getenv("SV_TEST_PG_DSN");
    if (dsn == nullptr) {
      if (std::getenv("SV_TEST_REQUIRE_PG") != nullptr) {
        FAIL() << "SV_TEST_REQUIRE_PG=1 but SV_TEST_PG_DSN is not set";
      }
      GTEST_SKIP() << "SV_TEST_PG_DSN is not set";
    }
    dsn_ = dsn;
    conn_ = PQconnectdb(dsn);
    ASSERT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    // Slots are the cluster's: names of this process only.
    table_ = absl::StrCat("sv_feed_", getpid());
    Exec(absl::StrCat("DROP TABLE IF EXISTS ", table_, "; CREATE TABLE ", table_,
                      " (id integer PRIMARY KEY, n integer NOT NULL)"));
  }

  void TearDown() override {
    if (conn_ == nullptr) return;
    source_.reset();  // its replication connection holds the slot
    Exec(absl::StrCat("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots ",
                      "WHERE slot_name = '", table_, "'"));
    Exec(absl::StrCat("DROP PUBLICATION IF EXISTS ", table_, "; DROP TABLE IF EXISTS ", table_));
    PQfinish(conn_);
  }

  void Exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const ExecStatusType status = PQresultStatus(r);
    EXPECT_TRUE(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
        << sql << ": " << PQresultErrorMessage(r);
    PQclear(r);
  }

  std::unique_ptr<Source> Open() {
    PgChangesOptions options;
    options.source_name = "feed";
    options.dsn = dsn_;
    options.publication = table_;
    options.slot = table_;
    options.tables = {table_};
    return NewPgChangesSource(options);
  }

  int64_t End() {
    auto ends = source_->EndOffsets();
    EXPECT_TRUE(ends.ok()) << ends.status();
    return ends.ok() ? (*ends)[0] : -1;
  }

  std::string dsn_;
  std::string table_;
  PGconn* conn_ = nullptr;
  std::unique_ptr<Source> source_;
};

TEST_F(PgChangesSourceTest, ReportsNoEndAtWhatItHandedOutUntilTheServerConfirmsIt) {
  Exec(absl::StrCat("INSERT INTO ", table_, " VALUES (0, 0)"));
  source_ = Open();
  ASSERT_TRUE(source_->Seek({}).ok());
  std::vector<SourceRecord> records;
  ASSERT_TRUE(source_->Poll(1000, 1000, &records).ok());
  ASSERT_FALSE(records.empty()) << "the snapshot comes in the first Poll";
  const int64_t snapshot_end = records.back().offset;
  source_->AfterCommit({{0, snapshot_end}}, {});

  // A backlog committed before it is read: one transaction per statement.
  constexpr int kTransactions = 40;
  for (int i = 1; i <= kTransactions; ++i) {
    Exec(absl::StrCat("INSERT INTO ", table_, " VALUES (", i, ", ", i, ")"));
  }

  // One transaction per Poll (max 1). Until the last is handed out, the server has more, so
  // the end reported is past everything handed out: a caller comparing its position with it
  // must not think itself caught up.
  int handed = 0;
  int64_t last = snapshot_end;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (handed < kTransactions && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(source_->Poll(1, 200, &records).ok());
    for (const SourceRecord& r : records) {
      EXPECT_GT(r.offset, last) << "positions increase";
      last = r.offset;
      ++handed;
    }
    if (!records.empty()) source_->AfterCommit({{0, last}}, {});
    if (!records.empty() && handed < kTransactions) {
      EXPECT_GT(End(), last) << "after " << handed << " of " << kTransactions
                             << " transactions, the end reported is what was handed out";
    }
  }
  ASSERT_EQ(handed, kTransactions);

  // Once the barrier is back, the end is what was handed out: caught up.
  while (End() != last && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(source_->Poll(1, 200, &records).ok());
    EXPECT_TRUE(records.empty());
  }
  EXPECT_EQ(End(), last);
}

}  // namespace
}  // namespace sv::source
