// The change-feed source against a real PostgreSQL (SV_TEST_PG_DSN, wal_level=logical as
// scripts/pg.sh starts it): what it reports as the end of the stream. `--exit-when-caught-up`
// and the lag compare the engine's applied position with EndOffsets, so the source may report
// an end equal to what it handed out only once the server said there is nothing more (a
// barrier message came back); before that, transactions committed earlier may still be on
// their way. Seen under CI load: the end was taken from the last data message's WAL position,
// a run called itself caught up halfway through the backlog and stopped. And the slot's flush
// position: while the source's tables are quiet, WAL written elsewhere is not pinned for it,
// yet nothing handed out and not committed is ever given up.

#include "source/pg_changes/pg_changes_source.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sv::source {
namespace {

using ::testing::HasSubstr;

bool IsHeartbeat(const SourceRecord& r) {
  for (const auto& [name, value] : r.headers) {
    if (name == "sv-type") return value == kHeartbeatType;
  }
  return false;
}

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
    Exec("SET client_min_messages = warning");
    // Slots are the cluster's: names of this process only.
    table_ = absl::StrCat("sv_feed_", getpid());
    Exec(absl::StrCat("DROP TABLE IF EXISTS ", table_, ", ", table_, "_other; CREATE TABLE ",
                      table_, " (id integer PRIMARY KEY, n integer NOT NULL); CREATE TABLE ",
                      table_, "_other (id integer PRIMARY KEY, n integer NOT NULL)"));
  }

  void TearDown() override {
    if (conn_ == nullptr) return;
    source_.reset();  // its walsender lets the slot go a moment after
    const std::string slot =
        absl::StrCat("FROM pg_replication_slots WHERE slot_name = '", table_, "'");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (Number("SELECT count(*) " + slot) > 0 && std::chrono::steady_clock::now() < deadline) {
      Number("SELECT count(pg_drop_replication_slot(slot_name)) " + slot + " AND NOT active");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    Exec(absl::StrCat("DROP PUBLICATION IF EXISTS ", table_, "; DROP TABLE IF EXISTS ", table_,
                      ", ", table_, "_other"));
    PQfinish(conn_);
  }

  // The first column of the first row of `sql`, as a number.
  int64_t Number(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << sql << ": " << PQresultErrorMessage(r);
    const int64_t n =
        PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? std::atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
  }

  int64_t SlotFlush() {
    return Number(absl::StrCat("SELECT (confirmed_flush_lsn - '0/0')::bigint FROM ",
                               "pg_replication_slots WHERE slot_name = '", table_, "'"));
  }

  void Exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const ExecStatusType status = PQresultStatus(r);
    EXPECT_TRUE(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
        << sql << ": " << PQresultErrorMessage(r);
    PQclear(r);
  }

  std::unique_ptr<Source> Open(const Clock* clock = Clock::Real(),
                               const PgChangesOptions& tuned = PgChangesOptions()) {
    PgChangesOptions options = tuned;
    options.clock = clock;
    // Quick heartbeats, unless the test chose its own.
    if (tuned.heartbeat_us == PgChangesOptions().heartbeat_us) options.heartbeat_us = 1'000'000;
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
      handed += IsHeartbeat(r) ? 0 : 1;
    }
    if (!records.empty()) {
      // The slot's own figures: read from the server, healthy; the oldest change handed out
      // and not committed has waited a while, none once it is committed.
      const UpstreamStatus u = source_->Upstream();
      EXPECT_TRUE(u.known);
      EXPECT_GE(u.lag_bytes, 0);
      EXPECT_EQ(u.problem, "");
      EXPECT_GE(u.lag_seconds, 0);
      source_->AfterCommit({{0, last}}, {});
      if (handed == kTransactions) {
        EXPECT_EQ(source_->Upstream().lag_seconds, 0);
      }
    }
    if (!records.empty() && handed < kTransactions) {
      EXPECT_GT(End(), last) << "after " << handed << " of " << kTransactions
                             << " transactions, the end reported is what was handed out";
    }
  }
  ASSERT_EQ(handed, kTransactions);

  // Once the barrier is back, the end is what was handed out: caught up.
  while (End() != last && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(source_->Poll(1, 200, &records).ok());
    for (const SourceRecord& r : records) {
      EXPECT_TRUE(IsHeartbeat(r)) << "only heartbeats after the last change";
      last = r.offset;
      source_->AfterCommit({{0, last}}, {});
    }
  }
  EXPECT_EQ(End(), last);
}

// A transaction larger than the server's logical_decoding_work_mem is streamed while it runs
// (protocol v2); the source spools it (here mostly in a file) and hands it over after its commit
// in pages no larger than asked, each but the last flagged `continues`, positions rising to the
// commit's end. A subtransaction rolled back after its rows were streamed loses only its rows;
// a transaction rolled back after streaming gives nothing.
TEST_F(PgChangesSourceTest, StreamsALargeTransactionInPagesWithoutItsRolledBackSubtransaction) {
  PgChangesOptions tuned;
  tuned.spool_memory_records = 100;
  // The smallest decoding memory the server allows, for this replication connection only.
  std::string dsn = dsn_;
  dsn_ += dsn_.rfind("postgres", 0) == 0
              ? std::string(dsn_.find('?') == std::string::npos ? "?" : "&") +
                    "options=-c%20logical_decoding_work_mem%3D64kB"
              : " options='-c logical_decoding_work_mem=64kB'";
  source_ = Open(Clock::Real(), tuned);
  dsn_ = dsn;
  ASSERT_TRUE(source_->Seek({}).ok());
  std::vector<SourceRecord> records;
  ASSERT_TRUE(source_->Poll(1000, 1000, &records).ok());
  ASSERT_FALSE(records.empty());
  int64_t last = records.back().offset;
  source_->AfterCommit({{0, last}}, {});

  constexpr int kRows = 20'000;  // far beyond 64kB of decoded changes
  Exec(absl::StrCat("BEGIN; INSERT INTO ", table_, " SELECT g, 0 FROM generate_series(1, ", kRows,
                    ") g; ROLLBACK"));
  Exec(absl::StrCat("BEGIN; INSERT INTO ", table_, " SELECT g, 1 FROM generate_series(1, ", kRows,
                    ") g; SAVEPOINT doomed; INSERT INTO ", table_,
                    " SELECT g, 2 FROM generate_series(100001, ", 100000 + kRows,
                    ") g; ROLLBACK TO SAVEPOINT doomed; SAVEPOINT kept; UPDATE ", table_,
                    " SET n = 3 WHERE id <= 10; RELEASE SAVEPOINT kept; INSERT INTO ", table_,
                    " VALUES (200001, 4); COMMIT"));
  const int64_t commit_end = Number("SELECT (pg_current_wal_lsn() - '0/0')::bigint");

  constexpr size_t kPage = 1'000;
  std::vector<SourceRecord> got;
  int pages = 0;
  bool open = false;  // the last page ended inside the transaction
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while ((open || got.size() < kRows + 11) && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(source_->Poll(kPage, 200, &records).ok());
    ASSERT_LE(records.size(), kPage);
    std::erase_if(records, IsHeartbeat);
    if (records.empty()) continue;
    ++pages;
    for (size_t i = 0; i + 1 < records.size(); ++i) EXPECT_FALSE(records[i].continues);
    open = records.back().continues;
    for (SourceRecord& r : records) {
      EXPECT_GT(r.offset, last) << "positions rise";
      last = r.offset;
      got.push_back(std::move(r));
    }
  }
  ASSERT_EQ(got.size(), static_cast<size_t>(kRows + 11));
  EXPECT_FALSE(open);
  EXPECT_GE(pages, kRows / static_cast<int>(kPage));
  EXPECT_LE(last, commit_end) << "the last position is the commit's end";
  int inserts = 0, updates = 0;
  for (const SourceRecord& r : got) {
    EXPECT_EQ(r.value.find("\"n\":2"), std::string::npos) << "a rolled-back row: " << r.value;
    EXPECT_EQ(r.value.find("\"n\":0"), std::string::npos) << "an aborted row: " << r.value;
    for (const auto& [name, value] : r.headers) {
      if (name != "sv-type") continue;
      inserts += value == table_ + ".insert" ? 1 : 0;
      updates += value == table_ + ".update" ? 1 : 0;
    }
  }
  EXPECT_EQ(inserts, kRows + 1);
  EXPECT_EQ(updates, 10);
  // The server did stream (else this tested the whole-transaction path). Its statistics reach
  // the view a moment after the walsender decoded the transactions.
  const std::string streamed = absl::StrCat(
      "SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = '", table_, "'");
  while (Number(streamed) < 2 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(source_->Poll(kPage, 200, &records).ok());
  }
  EXPECT_GE(Number(streamed), 2) << Number(absl::StrCat(
      "SELECT spill_txns FROM pg_stat_replication_slots WHERE slot_name = '", table_, "'"));
}

TEST_F(PgChangesSourceTest, QuietTablesDoNotPinWalButUncommittedChangesAreKept) {
  ManualClock clock(1'000'000'000);
  source_ = Open(&clock);
  ASSERT_TRUE(source_->Seek({}).ok());
  std::vector<SourceRecord> records;
  ASSERT_TRUE(source_->Poll(1000, 1000, &records).ok());
  ASSERT_FALSE(records.empty());
  source_->AfterCommit({{0, records.back().offset}}, {});

  // A change of ours, handed out and not committed yet.
  Exec(absl::StrCat("INSERT INTO ", table_, " VALUES (1, 1)"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  int64_t ours = 0;
  while (ours == 0 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(source_->Poll(10, 200, &records).ok());
    if (!records.empty()) ours = records.back().offset;
  }
  ASSERT_GT(ours, 0);

  // A busy table that is not published, and heartbeats (the clock moves one interval per
  // Poll): they come out after our change, as records the engine has not committed either, so
  // the flush stays before it.
  auto busy = [&] {
    for (int i = 0; i < 20; ++i) {
      Exec(absl::StrCat("INSERT INTO ", table_, "_other VALUES (", i, ", ", i,
                        ") ON CONFLICT (id) DO UPDATE SET n = ", table_, "_other.n + 1"));
    }
    return Number("SELECT (pg_current_wal_lsn() - '0/0')::bigint");
  };
  int64_t elsewhere = busy();
  for (int i = 0; i < 30; ++i) {
    clock.Advance(1'000'000);
    ASSERT_TRUE(source_->Poll(10, 100, &records).ok());
    for (const SourceRecord& r : records) {
      EXPECT_TRUE(IsHeartbeat(r));
      EXPECT_GT(r.offset, ours) << "a heartbeat comes after what was handed out";
    }
    ASSERT_LT(SlotFlush(), ours) << "the flush passed a change the engine has not committed";
  }

  // Committed, heartbeats included (as the engine stores them): the flush passes the other
  // table's WAL, and is never ahead of what was committed.
  source_->AfterCommit({{0, ours}}, {});
  elsewhere = busy();
  int64_t committed = ours;
  while (SlotFlush() < elsewhere && std::chrono::steady_clock::now() < deadline) {
    clock.Advance(1'000'000);
    ASSERT_TRUE(source_->Poll(10, 100, &records).ok());
    for (const SourceRecord& r : records) {
      EXPECT_TRUE(IsHeartbeat(r));
      committed = r.offset;
      source_->AfterCommit({{0, committed}}, {});
    }
    ASSERT_LE(SlotFlush(), committed) << "the flush is ahead of the committed position";
  }
  EXPECT_GE(SlotFlush(), elsewhere) << "a quiet source pins the WAL of tables it does not read";

  // A restart from the committed position resumes cleanly and hands out what comes next, once.
  source_ = Open(&clock);
  ASSERT_TRUE(source_->Seek({{0, committed}}).ok());
  Exec(absl::StrCat("INSERT INTO ", table_, " VALUES (2, 2)"));
  std::vector<SourceRecord> after;
  while (after.empty() && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(source_->Poll(10, 200, &records).ok());
    for (SourceRecord& r : records) {
      if (!IsHeartbeat(r)) after.push_back(std::move(r));
    }
  }
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].key, "2");
}

// Columns added, dropped and retyped while the source streams: each change carries the row as
// the table is at its commit (pgoutput resends the table's definition before the first change
// that uses a new one), with no restart and no field silently lost.
TEST_F(PgChangesSourceTest, FollowsColumnsAddedDroppedAndRetypedWhileRunning) {
  source_ = Open();
  ASSERT_TRUE(source_->Seek({}).ok());
  std::vector<SourceRecord> records;
  ASSERT_TRUE(source_->Poll(10, 1000, &records).ok());  // the (empty) snapshot's marker
  Exec(absl::StrCat("INSERT INTO ", table_, " VALUES (1, 10)"));
  Exec(absl::StrCat("ALTER TABLE ", table_, " ADD COLUMN note text"));
  Exec(absl::StrCat("INSERT INTO ", table_, " VALUES (2, 20, 'added')"));
  Exec(absl::StrCat("ALTER TABLE ", table_, " ALTER COLUMN n TYPE numeric(10, 2)"));
  Exec(absl::StrCat("UPDATE ", table_, " SET n = n + 0.25 WHERE id = 2"));
  Exec(absl::StrCat("ALTER TABLE ", table_, " DROP COLUMN note"));
  Exec(absl::StrCat("INSERT INTO ", table_, " VALUES (3, 30.5)"));
  std::vector<std::string> values;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (values.size() < 4 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(source_->Poll(10, 200, &records).ok());
    for (const SourceRecord& r : records) {
      if (!IsHeartbeat(r)) values.push_back(r.value);
    }
  }
  ASSERT_EQ(values.size(), 4u);
  EXPECT_EQ(values[0], R"({"id":1,"n":10})");
  EXPECT_EQ(values[1], R"({"id":2,"n":20,"note":"added"})");
  EXPECT_EQ(values[2], R"({"id":2,"n":20.25,"note":"added"})") << "numeric after the retype";
  EXPECT_EQ(values[3], R"({"id":3,"n":30.50})");
}

// The slot lost behind the engine's back (dropped, or dropped and created again, which puts
// it ahead of the stored position): resuming is refused, saying changes may be lost; a replay
// re-snapshots with a new slot, and the stream resumes from its consistent point, once.
TEST_F(PgChangesSourceTest, ASlotLostOrAheadIsRefusedAndAReplayResnapshots) {
  Exec(absl::StrCat("INSERT INTO ", table_, " VALUES (1, 1)"));
  source_ = Open();
  ASSERT_TRUE(source_->Seek({}).ok());
  std::vector<SourceRecord> records;
  ASSERT_TRUE(source_->Poll(1000, 1000, &records).ok());
  ASSERT_EQ(records.size(), 2u) << "a row and the snapshot's marker";
  const int64_t stored = records.back().offset;
  source_->AfterCommit({{0, stored}}, {});
  source_.reset();

  const std::string slot = absl::StrCat("'", table_, "'");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (Number("SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = " + slot) >
             0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Number("SELECT count(pg_drop_replication_slot(" + slot + "))");
  Exec(absl::StrCat("INSERT INTO ", table_, " VALUES (2, 2)"));  // while no slot kept it
  source_ = Open();
  absl::Status s = source_->Seek({{0, stored}});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("is gone"));
  EXPECT_THAT(s.message(), HasSubstr("streamview rebuild"));

  Number("SELECT count(*) FROM pg_create_logical_replication_slot(" + slot + ", 'pgoutput')");
  source_ = Open();
  s = source_->Seek({{0, stored}});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("ahead of the views"));

  // The replay: the rows as they are now (1 and 2), then the marker at the new slot's
  // consistent point, where the stream resumes.
  source_ = Open();
  auto replay = source_->OpenReplay(std::nullopt, false);
  ASSERT_TRUE(replay.ok()) << replay.status();
  std::vector<std::string> keys;
  while (true) {
    ASSERT_TRUE((*replay)->Next(1, &records).ok());
    if (records.empty()) break;
    keys.push_back(*records[0].key);
  }
  EXPECT_THAT(keys, ::testing::ElementsAre("1", "2", ""));
  const int64_t consistent = (*replay)->Ends()[0];
  EXPECT_GT(consistent, stored);
  source_ = Open();
  ASSERT_TRUE(source_->Seek({{0, consistent}}).ok());
  Exec(absl::StrCat("INSERT INTO ", table_, " VALUES (3, 3)"));
  std::vector<std::string> after;
  while (after.empty() && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(source_->Poll(10, 200, &records).ok());
    for (const SourceRecord& r : records) {
      if (!IsHeartbeat(r)) after.push_back(*r.key);
    }
  }
  EXPECT_THAT(after, ::testing::ElementsAre("3"));
}

// A verify's snapshot (OpenSnapshotBeside): taken through a temporary slot while the live
// source streams from its own, which it leaves where it is; it holds exactly the transactions
// committed before its consistent point, and says so of the live records (Holds); its slot is
// gone once its rows are read; the live source, asked to, sends a heartbeat past it although its
// tables are quiet (no heartbeat of its own for an hour).
TEST_F(PgChangesSourceTest, ASnapshotBesideTheLiveSlotHoldsExactlyWhatCommittedBeforeIt) {
  Exec(absl::StrCat("INSERT INTO ", table_, " VALUES (1, 1)"));
  PgChangesOptions quiet;
  quiet.heartbeat_us = 3'600'000'000;
  source_ = Open(Clock::Real(), quiet);
  ASSERT_TRUE(source_->Seek({}).ok());
  std::vector<SourceRecord> records;
  ASSERT_TRUE(source_->Poll(1000, 1000, &records).ok());
  ASSERT_EQ(records.size(), 2u) << "a row and the snapshot's marker";
  const int64_t live_stored = records.back().offset;
  source_->AfterCommit({{0, live_stored}}, {});

  Exec(absl::StrCat("INSERT INTO ", table_, " VALUES (2, 2)"));  // before the snapshot
  std::unique_ptr<Source> beside = Open();
  auto replay = beside->OpenSnapshotBeside({});
  ASSERT_TRUE(replay.ok()) << replay.status();
  const std::string temporary =
      absl::StrCat("FROM pg_replication_slots WHERE temporary AND slot_name LIKE 'sv_snapshot_",
                   getpid(), "_%'");
  EXPECT_EQ(Number("SELECT count(*) " + temporary), 1);
  Exec(absl::StrCat("BEGIN; INSERT INTO ", table_, " VALUES (3, 3); UPDATE ", table_,
                    " SET n = 10 WHERE id = 1; COMMIT"));  // after it
  std::vector<std::string> snapshot;
  while (true) {
    ASSERT_TRUE((*replay)->Next(1, &records).ok());
    if (records.empty()) break;
    snapshot.push_back(absl::StrCat(*records[0].key, ":", records[0].value));
  }
  EXPECT_THAT(snapshot,
              ::testing::ElementsAre(R"(1:{"id":1,"n":1})", R"(2:{"id":2,"n":2})", ":{}"));
  const int64_t at = (*replay)->Ends()[0];
  EXPECT_LE(SlotFlush(), live_stored) << "the live slot is not moved by the snapshot";
  // Its rows read, the snapshot's transaction and temporary slot end: nothing is held on the
  // server while its user applies the live records after it (Holds needs only the point).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (Number("SELECT count(*) " + temporary) > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(Number("SELECT count(*) " + temporary), 0);

  // The live stream: (2) held by the snapshot, (3) and the update not.
  std::map<std::string, bool> held;
  while (held.size() < 3 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(source_->Poll(10, 200, &records).ok());
    for (const SourceRecord& r : records) {
      if (IsHeartbeat(r)) continue;
      held[absl::StrCat(*r.key, r.value)] = (*replay)->Holds(r);
      if (!r.continues) source_->AfterCommit({{0, r.offset}}, {});
    }
  }
  EXPECT_THAT(held, ::testing::ElementsAre(::testing::Pair(R"(1{"id":1,"n":10})", false),
                                           ::testing::Pair(R"(2{"id":2,"n":2})", true),
                                           ::testing::Pair(R"(3{"id":3,"n":3})", false)));

  // Quiet tables: asked, the live source sends a heartbeat past the snapshot.
  source_->MarkPositionSoon();
  int64_t heartbeat = 0;
  while (heartbeat == 0 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(source_->Poll(10, 200, &records).ok());
    for (const SourceRecord& r : records) {
      if (IsHeartbeat(r)) heartbeat = r.offset;
    }
  }
  EXPECT_GT(heartbeat, at);
}

// A tenant rebuild's snapshot (OpenSnapshotBeside with a filter): a table whose key fields are
// its primary key is read for the organization only (WHERE n = $1), one whose are not is read
// whole, a skipped one not at all; the snapshot's transaction stays open, so a row of another
// organization that a later transaction moves into this one is read as the snapshot held it.
TEST_F(PgChangesSourceTest, AFilteredSnapshotReadsOneOrganizationsRowsAndLaterAnyRowAsItWas) {
  const std::string other = table_ + "_other";
  Exec(absl::StrCat("INSERT INTO ", table_, " VALUES (1, 1), (2, 2), (3, 1); INSERT INTO ", other,
                    " VALUES (1, 1), (2, 2)"));
  PgChangesOptions options;
  options.clock = Clock::Real();
  options.source_name = "feed";
  options.dsn = dsn_;
  options.publication = table_;
  options.slot = table_;
  options.tables = {table_, other};
  auto read_all = [](ReplayReader& replay) {
    std::vector<std::string> rows;
    std::vector<SourceRecord> page;
    while (true) {
      EXPECT_TRUE(replay.Next(2, &page).ok());
      if (page.empty()) break;
      for (const SourceRecord& r : page) {
        rows.push_back(absl::StrCat(r.headers[0].second, ":", r.value));
      }
    }
    std::sort(rows.begin(), rows.end());
    return rows;
  };

  SnapshotFilter filter;
  filter.value = "1";
  filter.tables[table_] = {"n", {"id"}};
  filter.tables[other] = {"n", {"n"}};  // not its primary key: read whole
  std::unique_ptr<Source> beside = NewPgChangesSource(options);
  auto replay = beside->OpenSnapshotBeside(filter);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_THAT((*replay)->FilteredTables(), ::testing::ElementsAre(table_));
  Exec(absl::StrCat("UPDATE ", table_, " SET n = 1 WHERE id = 2"));  // after the snapshot
  const std::string insert = table_ + ".insert:";
  std::vector<std::string> expected = {insert + R"({"id":1,"n":1})", insert + R"({"id":3,"n":1})",
                                       other + R"(.insert:{"id":1,"n":1})",
                                       other + R"(.insert:{"id":2,"n":2})", "snapshot.done:{}"};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(read_all(**replay), expected);
  SourceRecord moved;
  moved.key = "2";
  moved.headers = {{"sv-type", table_ + ".update"}};
  auto before = (*replay)->SnapshotRowOf(moved);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_TRUE(before->has_value()) << "row 2 was in the table at the snapshot";
  EXPECT_EQ((*before)->value, R"({"id":2,"n":2})") << "as the snapshot held it";
  EXPECT_EQ(*(*before)->key, "2");
  moved.key = "9";
  auto absent = (*replay)->SnapshotRowOf(moved);
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_FALSE(absent->has_value());
  moved.headers = {{"sv-type", other + ".update"}};
  auto whole = (*replay)->SnapshotRowOf(moved);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_FALSE(whole->has_value()) << "a table read whole has every row in the snapshot";
  replay->reset();
  beside.reset();

  filter.tables.erase(other);
  filter.skipped = {other};
  beside = NewPgChangesSource(options);
  replay = beside->OpenSnapshotBeside(filter);
  ASSERT_TRUE(replay.ok()) << replay.status();
  expected = {insert + R"({"id":1,"n":1})", insert + R"({"id":2,"n":1})",
              insert + R"({"id":3,"n":1})", "snapshot.done:{}"};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(read_all(**replay), expected);
}

// Five seconds pass at every look: each progress check of the snapshot reports.
class TickingClock : public Clock {
 public:
  int64_t NowMicros() const override { return now_ += 5'000'000; }

 private:
  mutable int64_t now_ = 1'000'000'000;
};

TEST_F(PgChangesSourceTest, TheSnapshotReportsItsProgress) {
  Exec(absl::StrCat("INSERT INTO ", table_, " SELECT i, i FROM generate_series(1, 5000) i; ",
                    "ANALYZE ", table_));
  TickingClock clock;
  source_ = Open(&clock);
  ::testing::internal::CaptureStderr();
  const absl::Status s = source_->Seek({});
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(log, HasSubstr(R"("msg":"change feed snapshot started","source":"feed")"));
  EXPECT_THAT(log, HasSubstr(R"("estimated_rows":"5000")"));
  // Every 1024 rows the clock is read: 5 s have passed, so a line with the rate and the ETA.
  EXPECT_THAT(log, HasSubstr(R"("msg":"change feed snapshot progress","source":"feed",)"
                             R"("rows":"1024","estimated_rows":"5000")"));
  EXPECT_THAT(log, HasSubstr(R"("rows":"4096","estimated_rows":"5000")"));
  EXPECT_THAT(log, HasSubstr(R"("msg":"change feed snapshot read","source":"feed",)"
                             R"("rows":"5000")"));
  std::vector<SourceRecord> records;
  ASSERT_TRUE(source_->Poll(10, 1000, &records).ok());
  EXPECT_EQ(records.size(), 5001u) << "the rows and the closing marker, in one Poll";
}

}  // namespace
}  // namespace sv::source
