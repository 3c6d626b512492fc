// The public library (include/streamview/) on both stores: optimistic concurrency under
// concurrent writers, replayed events skipped, bulk upsert with cursor pages, the snapshot
// policy, and a crash in the middle of a unit of work leaving none of it.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <barrier>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "store_backends.h"
#include "streamview/streamview.h"

namespace sv::store {
namespace {

// A writer's new counter value from the one it read: order-sensitive, so the final value names
// the sequence of winners; kept below 2^31 so 25 rounds never overflow.
int64_t Next(int64_t value, int writer) { return (value * 7 + writer + 1) % 2'147'483'647; }

namespace lib = ::streamview;

constexpr char kCounters[] = "counters";

lib::CollectionSpec CounterSpec() {
  return {kCounters,
          {{"tenant", lib::ColumnType::kText},
           {"name", lib::ColumnType::kText},
           {"value", lib::ColumnType::kInt},
           {"writer", lib::ColumnType::kInt}},
          {"tenant", "name"},
          {}};
}

lib::CollectionSpec OrderSpec() {
  return {"orders",
          {{"customer", lib::ColumnType::kText},
           {"order_no", lib::ColumnType::kInt},
           {"status", lib::ColumnType::kText},
           {"total", lib::ColumnType::kReal},
           {"meta", lib::ColumnType::kJson}},
          {"customer", "order_no"},
          {{"status"}}};
}

const lib::Key kCounterKey = {std::string("acme"), std::string("hits")};

int64_t IntOf(const lib::Document& doc, const std::string& column) {
  return std::get<int64_t>(doc.at(column));
}

class LibraryTest : public BackendTest {
 protected:
  lib::StoreOptions LibOptions() const {
    return postgres()
               ? lib::StoreOptions::Postgres(options_.dsn, options_.schema, options_.view_schema)
               : lib::StoreOptions::Sqlite(options_.path);
  }

  std::unique_ptr<lib::Connection> Connect() {
    lib::Result<std::unique_ptr<lib::Connection>> c = lib::Connection::Open(LibOptions());
    EXPECT_TRUE(c.ok()) << c.status().message();
    if (!c.ok()) return nullptr;
    for (const lib::CollectionSpec& spec : {CounterSpec(), OrderSpec()}) {
      lib::Status s = (*c)->projections().Define(spec);
      EXPECT_TRUE(s.ok()) << s.message();
    }
    return std::move(*c);
  }
};

// Each round every writer reads the same version and writes the next one: exactly one wins,
// the others get a conflict naming the version the winner wrote. The row then equals a serial
// fold of the winners in version order.
TEST_P(LibraryTest, ConcurrentWritersOneWinnerPerVersion) {
  constexpr int kWriters = 4;
  constexpr int kRounds = 25;
  std::vector<std::unique_ptr<lib::Connection>> conns;
  for (int w = 0; w < kWriters; ++w) conns.push_back(Connect());
  for (const auto& c : conns) ASSERT_NE(c, nullptr);
  std::barrier sync(kWriters);
  std::mutex mu;
  std::map<int64_t, std::vector<int>> winners;  // version → writers that wrote it
  std::map<int64_t, int> conflicts;             // version reported → count
  std::vector<std::string> errors;
  auto writer = [&](int w) {
    lib::Connection& db = *conns[w];
    for (int round = 0; round < kRounds; ++round) {
      sync.arrive_and_wait();  // the previous round is over
      lib::Result<std::optional<lib::Projection>> row =
          db.projections().Get(kCounters, kCounterKey);
      int64_t version = 0;
      int64_t value = 0;
      if (row.ok() && row->has_value()) {
        version = (*row)->version;
        value = IntOf((*row)->doc, "value");
      }
      sync.arrive_and_wait();  // everyone read the same version
      lib::WriteOptions options;
      options.expected_version = version;
      lib::Result<lib::WriteResult> r = db.projections().Upsert(kCounters,
                                                                {{"tenant", std::string("acme")},
                                                                 {"name", std::string("hits")},
                                                                 {"value", Next(value, w)},
                                                                 {"writer", int64_t{w}}},
                                                                options);
      std::lock_guard<std::mutex> lock(mu);
      if (!row.ok() || !r.ok()) {
        errors.push_back(!row.ok() ? row.status().message() : r.status().message());
      } else if (r->written()) {
        winners[r->version].push_back(w);
      } else if (r->conflict()) {
        ++conflicts[r->version];
      } else {
        errors.push_back("neither written nor a conflict");
      }
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) threads.emplace_back(writer, w);
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(errors.empty()) << errors.front();

  ASSERT_EQ(winners.size(), static_cast<size_t>(kRounds));
  int64_t oracle = 0;
  for (int64_t v = 1; v <= kRounds; ++v) {
    ASSERT_EQ(winners[v].size(), 1u) << "version " << v;
    EXPECT_EQ(conflicts[v], kWriters - 1) << "version " << v;
    oracle = Next(oracle, winners[v][0]);
  }
  lib::Result<std::optional<lib::Projection>> final_row =
      conns[0]->projections().Get(kCounters, kCounterKey);
  ASSERT_TRUE(final_row.ok() && final_row->has_value());
  EXPECT_EQ((*final_row)->version, kRounds);
  EXPECT_EQ(IntOf((*final_row)->doc, "value"), oracle);
  EXPECT_EQ(IntOf((*final_row)->doc, "writer"), winners[kRounds][0]);
}

// Free-running writers retrying on conflict: every increment lands exactly once.
TEST_P(LibraryTest, RetryingWritersLoseNoIncrement) {
  constexpr int kWriters = 3;
  constexpr int kIncrements = 30;
  std::vector<std::unique_ptr<lib::Connection>> conns;
  for (int w = 0; w < kWriters; ++w) conns.push_back(Connect());
  for (const auto& c : conns) ASSERT_NE(c, nullptr);
  std::mutex mu;
  std::set<int64_t> versions_written;
  std::vector<std::string> errors;
  auto writer = [&](int w) {
    lib::Connection& db = *conns[w];
    for (int done = 0; done < kIncrements;) {
      lib::Result<std::optional<lib::Projection>> row =
          db.projections().Get(kCounters, kCounterKey);
      if (!row.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        errors.push_back(row.status().message());
        return;
      }
      lib::WriteOptions options;
      options.expected_version = row->has_value() ? (*row)->version : 0;
      const int64_t value = row->has_value() ? IntOf((*row)->doc, "value") : 0;
      lib::Result<lib::WriteResult> r = db.projections().Upsert(kCounters,
                                                                {{"tenant", std::string("acme")},
                                                                 {"name", std::string("hits")},
                                                                 {"value", value + 1},
                                                                 {"writer", int64_t{w}}},
                                                                options);
      std::lock_guard<std::mutex> lock(mu);
      if (!r.ok()) {
        errors.push_back(r.status().message());
        return;
      }
      if (r->written()) {
        EXPECT_TRUE(versions_written.insert(r->version).second) << "version " << r->version;
        ++done;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) threads.emplace_back(writer, w);
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(errors.empty()) << errors.front();
  lib::Result<std::optional<lib::Projection>> row =
      conns[0]->projections().Get(kCounters, kCounterKey);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ(IntOf((*row)->doc, "value"), kWriters * kIncrements);
  EXPECT_EQ((*row)->version, kWriters * kIncrements);
  EXPECT_EQ(versions_written.size(), static_cast<size_t>(kWriters * kIncrements));
}

TEST_P(LibraryTest, ReplayedEventIsSkipped) {
  std::unique_ptr<lib::Connection> db = Connect();
  ASSERT_NE(db, nullptr);
  auto write = [&](const std::string& event, int64_t value,
                   std::optional<int64_t> expected = std::nullopt) {
    lib::WriteOptions options;
    options.event_id = event;
    options.expected_version = expected;
    lib::Result<lib::WriteResult> r = db->projections().Upsert(
        kCounters,
        {{"tenant", std::string("acme")}, {"name", std::string("hits")}, {"value", value}},
        options);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r->outcome : lib::WriteOutcome::kNotFound;
  };
  auto stored = [&] {
    lib::Result<std::optional<lib::Projection>> row = db->projections().Get(kCounters, kCounterKey);
    EXPECT_TRUE(row.ok() && row->has_value());
    return row.ok() && row->has_value() ? **row : lib::Projection{};
  };
  EXPECT_EQ(write("e1", 10), lib::WriteOutcome::kWritten);
  EXPECT_EQ(write("e1", 99), lib::WriteOutcome::kAlreadyApplied);
  EXPECT_EQ(stored().version, 1);
  EXPECT_EQ(IntOf(stored().doc, "value"), 10);
  EXPECT_EQ(write("e2", 20), lib::WriteOutcome::kWritten);
  // Not only the last event: an older one replayed is skipped too.
  EXPECT_EQ(write("e1", 99), lib::WriteOutcome::kAlreadyApplied);
  EXPECT_EQ(stored().version, 2);
  EXPECT_EQ(stored().last_event_id, "e2");
  EXPECT_EQ(IntOf(stored().doc, "value"), 20);
  // An event that lost on its version was not applied: it applies when retried right.
  EXPECT_EQ(write("e3", 30, 1), lib::WriteOutcome::kConflict);
  EXPECT_EQ(write("e3", 30, 2), lib::WriteOutcome::kWritten);
  EXPECT_EQ(stored().version, 3);
  // Deletes are idempotent by event too.
  lib::WriteOptions del;
  del.event_id = "e3";
  lib::Result<lib::WriteResult> r = db->projections().Delete(kCounters, kCounterKey, del);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->already_applied());
  del.event_id = "e4";
  del.expected_version = 2;
  r = db->projections().Delete(kCounters, kCounterKey, del);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->conflict());
  EXPECT_EQ(r->version, 3);
  del.expected_version = 3;
  r = db->projections().Delete(kCounters, kCounterKey, del);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->written());
  lib::Result<std::optional<lib::Projection>> gone = db->projections().Get(kCounters, kCounterKey);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  // A new event id on a deleted key: kNotFound without an expected version.
  del.event_id = "e5";
  del.expected_version.reset();
  r = db->projections().Delete(kCounters, kCounterKey, del);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, lib::WriteOutcome::kNotFound);
}

// A key deleted and written again goes on from the deleted row's version: a version (an
// HTTP ETag) never names two different rows, so a writer holding a version read before the
// delete cannot overwrite the new row (the ABA problem).
TEST_P(LibraryTest, DeletedKeyWrittenAgainNeverReusesAVersion) {
  std::unique_ptr<lib::Connection> db = Connect();
  ASSERT_NE(db, nullptr);
  auto counter = [](int64_t value) {
    return lib::Document{{"tenant", std::string("acme")},
                         {"name", std::string("hits")},
                         {"value", value},
                         {"writer", int64_t{0}}};
  };
  auto expecting = [](std::optional<int64_t> version) {
    lib::WriteOptions options;
    options.expected_version = version;
    return options;
  };
  auto upsert = [&](int64_t value, std::optional<int64_t> expected) {
    lib::Result<lib::WriteResult> r =
        db->projections().Upsert(kCounters, counter(value), expecting(expected));
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : lib::WriteResult{};
  };
  EXPECT_EQ(upsert(1, 0).version, 1);  // a reader saw version 1
  lib::Result<lib::WriteResult> deleted =
      db->projections().Delete(kCounters, kCounterKey, expecting(1));
  ASSERT_TRUE(deleted.ok() && deleted->written()) << deleted.status().message();
  lib::WriteResult created = upsert(2, 0);
  EXPECT_TRUE(created.written());
  EXPECT_EQ(created.version, 2) << "a created-again row must not reuse version 1";
  lib::WriteResult stale = upsert(99, 1);  // the reader of the first row writes back
  EXPECT_TRUE(stale.conflict());
  EXPECT_EQ(stale.version, 2);
  // Deleted again, then written without a precondition, and by a bulk: still counting on.
  deleted = db->projections().Delete(kCounters, kCounterKey, expecting(2));
  ASSERT_TRUE(deleted.ok() && deleted->written());
  EXPECT_EQ(upsert(3, std::nullopt).version, 3);
  deleted = db->projections().Delete(kCounters, kCounterKey, expecting(std::nullopt));
  ASSERT_TRUE(deleted.ok() && deleted->written());
  // A bulk large enough for multi-row statements, the deleted key among fresh ones.
  std::vector<lib::Document> docs;
  for (int i = 0; i < 1000; ++i) {
    docs.push_back({{"tenant", std::string("acme")},
                    {"name", "fresh-" + std::to_string(i)},
                    {"value", int64_t{i}},
                    {"writer", int64_t{0}}});
    if (i == 500) docs.push_back(counter(4));
  }
  lib::Result<lib::BulkResult> bulk = db->projections().BulkUpsert(kCounters, docs);
  ASSERT_TRUE(bulk.ok()) << bulk.status().message();
  lib::Result<std::optional<lib::Projection>> row = db->projections().Get(kCounters, kCounterKey);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->version, 4);
  EXPECT_EQ(IntOf((*row)->doc, "value"), 4);
  // Keys never deleted start at 1.
  for (int i : {0, 499, 999}) {
    row = db->projections().Get(kCounters, {std::string("acme"), "fresh-" + std::to_string(i)});
    ASSERT_TRUE(row.ok() && row->has_value());
    EXPECT_EQ((*row)->version, 1);
  }
}

TEST_P(LibraryTest, BulkUpsertThenPagesEqualTheOracle) {
  std::unique_ptr<lib::Connection> db = Connect();
  ASSERT_NE(db, nullptr);
  constexpr int kRows = 3000;
  const char* statuses[] = {"pending", "paid", "shipped"};
  std::map<std::pair<std::string, int64_t>, std::string> oracle;  // key → status
  std::vector<lib::Document> docs;
  for (int i = 0; i < kRows; ++i) {
    const std::string customer = "c" + std::to_string(i % 17);
    const int64_t order_no = i;
    const std::string status = statuses[(i * 7) % 3];
    docs.push_back({{"customer", customer},
                    {"order_no", order_no},
                    {"status", status},
                    {"total", 1.5 * i},
                    {"meta", std::string("{\"b\": 1, \"a\": [") + std::to_string(i) + "]}"}});
    oracle[{customer, order_no}] = status;
  }
  lib::Result<lib::BulkResult> bulk = db->projections().BulkUpsert("orders", docs, "import-1");
  ASSERT_TRUE(bulk.ok()) << bulk.status().message();
  EXPECT_EQ(bulk->written, kRows);
  // The same import again: skipped as a whole.
  bulk = db->projections().BulkUpsert("orders", docs, "import-1");
  ASSERT_TRUE(bulk.ok());
  EXPECT_TRUE(bulk->already_applied);
  EXPECT_EQ(bulk->written, 0);

  // Every row through cursor pages in key order, and the paid ones filtered.
  for (const bool only_paid : {false, true}) {
    lib::Query query;
    query.limit = 400;
    if (only_paid) query.filters.push_back({"status", lib::FilterOp::kEq, {std::string("paid")}});
    std::vector<std::pair<std::string, int64_t>> seen;
    for (int pages = 0; pages < 100; ++pages) {
      lib::Result<lib::Page> page = db->projections().Find("orders", query);
      ASSERT_TRUE(page.ok()) << page.status().message();
      for (const lib::Projection& p : page->items) {
        seen.emplace_back(std::get<std::string>(p.doc.at("customer")), IntOf(p.doc, "order_no"));
        EXPECT_EQ(p.version, 1);
        EXPECT_EQ(p.last_event_id, "import-1");
      }
      if (page->next_cursor.empty()) break;
      query.cursor = page->next_cursor;
    }
    std::vector<std::pair<std::string, int64_t>> want;
    for (const auto& [key, status] : oracle) {
      if (!only_paid || status == "paid") want.push_back(key);
    }
    EXPECT_EQ(seen, want);
  }
  lib::Result<std::optional<lib::Projection>> one =
      db->projections().Get("orders", {std::string("c3"), int64_t{20}});
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ(std::get<std::string>((*one)->doc.at("meta")), "{\"a\":[20],\"b\":1}");
  EXPECT_DOUBLE_EQ(std::get<double>((*one)->doc.at("total")), 30.0);

  // A second bulk over half the rows moves their versions to 2, the others stay at 1.
  docs.resize(kRows / 2);
  bulk = db->projections().BulkUpsert("orders", docs, "import-2");
  ASSERT_TRUE(bulk.ok());
  EXPECT_EQ(bulk->written, kRows / 2);
  one = db->projections().Get("orders", {std::string("c3"), int64_t{20}});
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ((*one)->version, 2);
  one =
      db->projections().Get("orders", {"c" + std::to_string((kRows - 1) % 17), int64_t{kRows - 1}});
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ((*one)->version, 1);

  // Bad input is a clear error, not a crash.
  lib::Result<lib::WriteResult> bad =
      db->projections().Upsert("orders", {{"customer", std::string("x")}, {"nope", int64_t{1}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), lib::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("nope"), std::string::npos);
  lib::Query bad_cursor;
  bad_cursor.cursor = "c1.garbage";
  EXPECT_EQ(db->projections().Find("orders", bad_cursor).status().code(),
            lib::Code::kInvalidArgument);
  lib::CollectionSpec changed = OrderSpec();
  changed.columns.pop_back();
  EXPECT_EQ(db->projections().Define(changed).code(), lib::Code::kFailedPrecondition);
}

TEST_P(LibraryTest, SnapshotEveryNEvents) {
  std::unique_ptr<lib::Connection> db = Connect();
  ASSERT_NE(db, nullptr);
  const lib::SnapshotPolicy policy = lib::SnapshotPolicy::EveryNEvents(4);
  std::vector<int64_t> taken;
  int64_t state = 0;
  for (int64_t version = 1; version <= 10; ++version) {
    state += version;  // the aggregate's state: the sum of its events
    lib::UnitOfWork uow = db->Begin();
    if (policy.ShouldSnapshot(version - 1, version)) {
      lib::Result<bool> saved =
          db->snapshots().Save(uow, {"Order", "o-1", version, std::to_string(state)});
      ASSERT_TRUE(saved.ok() && *saved) << saved.status().message();
      taken.push_back(version);
    }
    ASSERT_TRUE(uow.Commit().ok());
  }
  EXPECT_EQ(taken, (std::vector<int64_t>{4, 8}));
  EXPECT_TRUE(policy.ShouldSnapshot(3, 9));  // several events at once: one snapshot
  EXPECT_FALSE(policy.ShouldSnapshot(8, 11));
  lib::Result<std::optional<lib::Snapshot>> loaded = db->snapshots().Load("Order", "o-1");
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_EQ((*loaded)->version, 8);
  EXPECT_EQ((*loaded)->data, "36");  // 1 + … + 8
  EXPECT_GT((*loaded)->saved_us, 0);
  // A slow writer's older snapshot does not move it back.
  lib::UnitOfWork uow = db->Begin();
  lib::Result<bool> older = db->snapshots().Save(uow, {"Order", "o-1", 4, "10"});
  ASSERT_TRUE(older.ok());
  EXPECT_FALSE(*older);
  lib::Result<bool> deleted = db->snapshots().Delete(uow, "Order", "o-2");
  ASSERT_TRUE(deleted.ok());
  EXPECT_FALSE(*deleted);
  ASSERT_TRUE(uow.Commit().ok());
  loaded = db->snapshots().Load("Order", "o-1");
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_EQ((*loaded)->version, 8);
  uow = db->Begin();
  deleted = db->snapshots().Delete(uow, "Order", "o-1");
  ASSERT_TRUE(deleted.ok() && *deleted);
  ASSERT_TRUE(uow.Commit().ok());
  loaded = db->snapshots().Load("Order", "o-1");
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
}

// One unit of work: many projection rows, a snapshot and positions of two partitions.
lib::Status WriteUnit(lib::Connection& db, lib::UnitOfWork& uow, int unit, int rows) {
  std::vector<lib::Document> docs;
  for (int i = 0; i < rows; ++i) {
    docs.push_back({{"customer", "u" + std::to_string(unit)},
                    {"order_no", int64_t{i}},
                    {"status", std::string("paid")}});
  }
  lib::Result<lib::BulkResult> bulk = db.projections().BulkUpsert(uow, "orders", docs);
  if (!bulk.ok()) return bulk.status();
  lib::Result<bool> saved = db.snapshots().Save(uow, {"Unit", std::to_string(unit), 1, "{}"});
  if (!saved.ok()) return saved.status();
  for (int32_t partition : {0, 1}) {
    lib::Status s = db.positions().Save(uow, "orders-projection", unit * 10 + partition, partition);
    if (!s.ok()) return s;
  }
  return lib::Status();
}

// A process killed after writing a unit of work, before its commit: after it, the store holds
// the units committed before and none of the one in flight.
TEST_P(LibraryTest, CrashInTheMiddleOfAUnitOfWorkLeavesNoneOfIt) {
  constexpr int kRows = 2000;  // enough that SQLite spills pages of the open transaction
  {
    std::unique_ptr<lib::Connection> db = Connect();
    ASSERT_NE(db, nullptr);
    lib::UnitOfWork uow = db->Begin();
    ASSERT_TRUE(WriteUnit(*db, uow, 1, kRows).ok());
    ASSERT_TRUE(uow.Commit().ok());
  }
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child: its own connection, unit 2 written but not committed, then it tells the
    // parent and waits to be killed (exit 3 if anything failed first).
    close(ready[0]);
    lib::Result<std::unique_ptr<lib::Connection>> c = lib::Connection::Open(LibOptions());
    if (!c.ok() || !(*c)->projections().Define(OrderSpec()).ok()) _exit(3);
    lib::UnitOfWork uow = (*c)->Begin();
    if (!WriteUnit(**c, uow, 2, kRows).ok()) _exit(3);
    const char byte = 'w';
    if (write(ready[1], &byte, 1) != 1) _exit(3);
    for (;;) pause();
  }
  close(ready[1]);
  char byte = 0;
  const ssize_t got = read(ready[0], &byte, 1);  // blocks until the child wrote its unit
  close(ready[0]);
  kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_EQ(got, 1) << "the child failed before writing its unit";
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  std::unique_ptr<lib::Connection> db = Connect();
  ASSERT_NE(db, nullptr);
  for (int unit : {1, 2}) {
    lib::Query query;
    query.filters.push_back({"customer", lib::FilterOp::kEq, {"u" + std::to_string(unit)}});
    query.limit = kRows + 1;
    lib::Result<lib::Page> page = db->projections().Find("orders", query);
    ASSERT_TRUE(page.ok()) << page.status().message();
    lib::Result<std::optional<lib::Snapshot>> snapshot =
        db->snapshots().Load("Unit", std::to_string(unit));
    ASSERT_TRUE(snapshot.ok());
    EXPECT_EQ(page->items.size(), unit == 1 ? static_cast<size_t>(kRows) : 0u) << unit;
    EXPECT_EQ(snapshot->has_value(), unit == 1) << unit;
  }
  lib::Result<std::map<int32_t, int64_t>> positions = db->positions().GetAll("orders-projection");
  ASSERT_TRUE(positions.ok());
  EXPECT_EQ(*positions, (std::map<int32_t, int64_t>{{0, 10}, {1, 11}}));
  // The store still takes writes (no lock or transaction left behind).
  lib::UnitOfWork uow = db->Begin();
  ASSERT_TRUE(WriteUnit(*db, uow, 3, 10).ok());
  lib::Status committed = uow.Commit();
  ASSERT_TRUE(committed.ok()) << committed.message();
  lib::Result<std::optional<int64_t>> position = db->positions().Get("orders-projection", 1);
  ASSERT_TRUE(position.ok() && position->has_value());
  EXPECT_EQ(**position, 31);
}

// SQLite under the fault-injection VFS (TESTING.md, "Injected faults"): a child process commits
// unit 1, writes unit 2 and cuts the power at the Nth file write of unit 2's commit (every write
// not yet fsynced is dropped). Whatever survives, each unit is whole or absent: its rows, its
// snapshot and its positions together, and unit 2 never without unit 1.
constexpr int kPowerCutRows = 500;

TEST_P(LibraryTest, PowerCutDuringCommitLeavesEachUnitWholeOrAbsent) {
  if (!sqlite()) GTEST_SKIP() << "the fault-injection VFS is SQLite's";
  int cuts = 0;
  for (const int cut_at_write : {1, 2, 5, 20, 1'000'000}) {
    SCOPED_TRACE(cut_at_write);
    const std::string fault_dir = dir_ + "/fault" + std::to_string(cut_at_write);
    const std::string db_path = dir_ + "/cut" + std::to_string(cut_at_write) + ".db";
    std::filesystem::create_directories(fault_dir);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      setenv("SV_FAULT_DIR", fault_dir.c_str(), 1);
      setenv("SV_LIBRARY_POWERCUT_DB", db_path.c_str(), 1);
      setenv("SV_LIBRARY_POWERCUT_AT", std::to_string(cut_at_write).c_str(), 1);
      execl("/proc/self/exe", "library_test", "--gtest_filter=LibraryPowerCutChild.*",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    const int code = WEXITSTATUS(status);
    ASSERT_TRUE(code == 86 || code == 0) << "child exit " << code;
    if (code == 86) ++cuts;

    lib::Result<std::unique_ptr<lib::Connection>> c =
        lib::Connection::Open(lib::StoreOptions::Sqlite(db_path));
    ASSERT_TRUE(c.ok()) << c.status().message();
    lib::Connection& db = **c;
    ASSERT_TRUE(db.projections().Define(OrderSpec()).ok());
    bool present[3] = {false, false, false};
    for (int unit : {1, 2}) {
      lib::Query query;
      query.filters.push_back({"customer", lib::FilterOp::kEq, {"u" + std::to_string(unit)}});
      query.limit = kPowerCutRows + 1;
      lib::Result<lib::Page> page = db.projections().Find("orders", query);
      ASSERT_TRUE(page.ok()) << page.status().message();
      lib::Result<std::optional<lib::Snapshot>> snapshot =
          db.snapshots().Load("Unit", std::to_string(unit));
      ASSERT_TRUE(snapshot.ok());
      const size_t rows = page->items.size();
      EXPECT_TRUE(rows == 0 || rows == static_cast<size_t>(kPowerCutRows)) << unit << ": " << rows;
      present[unit] = rows > 0;
      EXPECT_EQ(snapshot->has_value(), present[unit]) << unit;
    }
    EXPECT_FALSE(present[2] && !present[1]);
    const int last = present[2] ? 2 : present[1] ? 1 : 0;
    lib::Result<std::map<int32_t, int64_t>> positions = db.positions().GetAll("orders-projection");
    ASSERT_TRUE(positions.ok());
    std::map<int32_t, int64_t> want_positions;
    if (last > 0) want_positions = {{0, last * 10}, {1, last * 10 + 1}};
    EXPECT_EQ(*positions, want_positions);
    if (code == 0) {
      EXPECT_TRUE(present[1] && present[2]) << "no cut: both units committed";
    }
  }
  EXPECT_GT(cuts, 0) << "no run was cut: the fault VFS did not act";
}

// The child of PowerCutDuringCommitLeavesEachUnitWholeOrAbsent (skipped when run on its own).
TEST(LibraryPowerCutChild, TwoUnitsThenACutInTheSecondCommit) {
  const char* db_path = std::getenv("SV_LIBRARY_POWERCUT_DB");
  const char* cut_at = std::getenv("SV_LIBRARY_POWERCUT_AT");
  const char* fault_dir = std::getenv("SV_FAULT_DIR");
  if (db_path == nullptr || cut_at == nullptr || fault_dir == nullptr) {
    GTEST_SKIP() << "runs as the child of the power-cut test";
  }
  lib::Result<std::unique_ptr<lib::Connection>> c =
      lib::Connection::Open(lib::StoreOptions::Sqlite(db_path));
  if (!c.ok() || !(*c)->projections().Define(OrderSpec()).ok()) _exit(3);
  for (int unit : {1, 2}) {
    lib::UnitOfWork uow = (*c)->Begin();
    if (!WriteUnit(**c, uow, unit, kPowerCutRows).ok()) _exit(3);
    if (unit == 2) {
      // The moment: unit 2 is written, its commit is next.
      std::ofstream control(std::string(fault_dir) + "/control");
      control << "powercut_at_write=" << cut_at << "\n";
    }
    if (!uow.Commit().ok()) _exit(4);
  }
  _exit(0);
}

SV_INSTANTIATE_STORE_BACKENDS(LibraryTest);

}  // namespace
}  // namespace sv::store
