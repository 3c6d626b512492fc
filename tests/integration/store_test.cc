// The store contract against every backend: SQLite files and PostgreSQL schemas
// (see store_backends.h).

#include "store/store.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/time_util.h"
#include "common/value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store_backends.h"

namespace sv::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

class StoreTest : public BackendTest {
 protected:
  std::unique_ptr<Store> Open(bool bulk_mode = false, int busy_timeout_ms = 10'000) {
    if (sqlite() && busy_timeout_ms != 10'000) {
      SqliteOptions options;
      options.path = options_.path;
      options.bulk_mode = bulk_mode;
      options.busy_timeout_ms = busy_timeout_ms;
      absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(options);
      EXPECT_TRUE(store.ok()) << store.status();
      if (!store.ok()) return nullptr;
      absl::Status init = (*store)->Init();
      EXPECT_TRUE(init.ok()) << init;
      return std::move(*store);
    }
    return OpenAs(bulk_mode ? StoreRole::kBulk : StoreRole::kWriter);
  }
};

SV_INSTANTIATE_STORE_BACKENDS_AND_MEMORY(StoreTest);

TableSpec OrdersTable(std::string name) {
  TableSpec t;
  t.name = std::move(name);
  t.columns = {{"order_id", Type::kText}, {"qty", Type::kInt}, {"amount", Type::kReal}};
  t.key = {0};
  return t;
}

Row OrderRow(std::string id, int64_t qty, double amount) {
  return {Value::Text(std::move(id)), Value::Int(qty), Value::Real(amount)};
}

std::vector<Row> Scan(Store& store, const TableSpec& table) {
  std::vector<Row> rows;
  absl::Status status = store.ScanTable(table, [&](const Row& row) { rows.push_back(row); });
  EXPECT_TRUE(status.ok()) << status;
  return rows;
}

LogRecord Record(std::string key, std::string raw, int64_t log_time_us = 0) {
  LogRecord r;
  r.key = std::move(key);
  r.raw = std::move(raw);
  r.log_time_us = log_time_us;
  return r;
}

PendingEvent Pending(std::string key, int64_t position, int64_t sequence, bool held) {
  PendingEvent e;
  e.key = std::move(key);
  e.partition = 0;
  e.position = position;
  e.sequence = sequence;
  e.log_time_us = 1000 + position;
  e.held = held;
  e.raw = "{\"pos\":" + std::to_string(position) + "}";
  return e;
}

// A dead letter of key o1 of source "orders" (partition 0) that parks its key.
DeadLetter ParkingLetter(int64_t position, std::string raw, int64_t created_us) {
  DeadLetter dl;
  dl.source = "orders";
  dl.partition = 0;
  dl.position = position;
  dl.key = "o1";
  dl.reason = "bad amount";
  dl.raw = std::move(raw);
  dl.created_us = created_us;
  dl.parks_key = true;
  return dl;
}

TEST_P(StoreTest, InitIsIdempotentAndRecordsSchemaVersion) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Init().ok());
  ASSERT_TRUE(store->Init().ok());
  // A reader checks the version a writer recorded.
  ASSERT_NE(OpenAs(StoreRole::kReader), nullptr);
  if (!sqlite()) return;  // the engine schema is not readable through ScanTable
  TableSpec meta;
  meta.name = "sv_meta";
  meta.columns = {{"name", Type::kText}, {"value", Type::kText}};
  meta.key = {0};
  EXPECT_THAT(Scan(*store, meta),
              ElementsAre(ElementsAre(Value::Text("schema_version"), Value::Text("5"))));
}

TEST_P(StoreTest, LogAppendAssignsDensePositionsAndReadsInOrder) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->LogEnd(), 0);

  const int64_t before = Clock::Real()->NowMicros();
  std::vector<LogRecord> first = {Record("k1", "{\"a\":1}"), Record("", "{\"a\":2}", 42),
                                  Record("k2", "{\"a\":3}")};
  absl::StatusOr<int64_t> last = store->AppendLog(&first);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(*last, 3);
  EXPECT_EQ(first[0].position, 1);
  EXPECT_EQ(first[1].position, 2);
  EXPECT_EQ(first[2].position, 3);
  EXPECT_GE(first[0].log_time_us, before);
  EXPECT_LE(first[0].log_time_us, Clock::Real()->NowMicros());
  EXPECT_EQ(first[1].log_time_us, 42);  // given times are kept

  std::vector<LogRecord> second = {Record("k3", "x"), Record("k4", "y")};
  EXPECT_EQ(*store->AppendLog(&second), 5);
  EXPECT_EQ(second[0].position, 4);
  EXPECT_EQ(second[1].position, 5);
  std::vector<LogRecord> none;
  EXPECT_EQ(*store->AppendLog(&none), 5);
  EXPECT_EQ(*store->LogEnd(), 5);

  std::vector<LogRecord> out;
  ASSERT_TRUE(store->ReadLog(0, 100, &out).ok());
  ASSERT_EQ(out.size(), 5u);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].position, static_cast<int64_t>(i + 1));
  EXPECT_EQ(out[0].key, "k1");
  EXPECT_EQ(out[0].raw, "{\"a\":1}");
  EXPECT_EQ(out[0].log_time_us, first[0].log_time_us);
  EXPECT_EQ(out[1].key, "");
  EXPECT_EQ(out[1].log_time_us, 42);
  EXPECT_EQ(out[4].raw, "y");

  // A window in the middle; `out` is overwritten, not appended to.
  ASSERT_TRUE(store->ReadLog(2, 2, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].position, 3);
  EXPECT_EQ(out[0].key, "k2");
  EXPECT_EQ(out[1].position, 4);
  EXPECT_EQ(out[1].raw, "x");

  ASSERT_TRUE(store->ReadLog(5, 100, &out).ok());
  EXPECT_TRUE(out.empty());

  // Another connection continues the same sequence.
  auto other = Open();
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(*other->LogEnd(), 5);
  std::vector<LogRecord> third = {Record("k5", "z")};
  EXPECT_EQ(*other->AppendLog(&third), 6);
  EXPECT_EQ(*store->LogEnd(), 6);
}

// A tail that read nothing waits for the next append instead of reading again every half
// millisecond: on PostgreSQL an append's NOTIFY (from another connection) wakes it, whether it
// came before the wait or during it; the others cannot wait (the caller polls).
TEST_P(StoreTest, WaitForAppendIsWokenByAnotherConnectionsAppend) {
  auto tail = Open();
  auto writer = Open();
  ASSERT_NE(tail, nullptr);
  ASSERT_NE(writer, nullptr);
  absl::StatusOr<bool> listening = tail->WaitForAppend(0);
  ASSERT_TRUE(listening.ok()) << listening.status();
  EXPECT_EQ(*listening, postgres());
  if (!*listening) return;
  // Woken, not timed out: a missed notification fails the test after two minutes.
  constexpr auto kDeadline = std::chrono::minutes(2);
  const int deadline_ms =
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(kDeadline).count());
  auto wait = [&] {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<bool> woke = tail->WaitForAppend(deadline_ms);
    EXPECT_TRUE(woke.ok()) << woke.status();
    return std::chrono::steady_clock::now() - start < kDeadline;
  };
  std::vector<LogRecord> out;
  std::vector<LogRecord> before = {Record("k1", "a")};
  ASSERT_TRUE(writer->AppendLog(&before).ok());
  EXPECT_TRUE(wait()) << "an append before the wait";
  ASSERT_TRUE(tail->ReadLog(0, 10, &out).ok());
  EXPECT_EQ(out.size(), 1u);
  std::thread appender([&] {
    std::vector<LogRecord> during = {Record("k2", "b")};
    EXPECT_TRUE(writer->AppendLog(&during).ok());
  });
  EXPECT_TRUE(wait()) << "an append during the wait";
  appender.join();
  // Woken at the append's commit: its record is there.
  ASSERT_TRUE(tail->ReadLog(1, 10, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key, "k2");
}

// Writes one of everything a batch can write.
void WriteEverything(Batch& batch, const TableSpec& table) {
  ASSERT_TRUE(batch.Upsert(table, OrderRow("o1", 2, 9.5)).ok());
  KeyState state;
  state.key = "o1";
  state.last_sequence = 7;
  state.parked_on = 0;
  ASSERT_TRUE(batch.PutKeyState("orders", state).ok());
  ASSERT_TRUE(batch.PutPending("orders", Pending("o1", 12, 9, false)).ok());
  ASSERT_TRUE(batch.PutPending("orders", Pending("o1", 11, 8, false)).ok());
  ASSERT_TRUE(batch.PutPending("orders", Pending("o1", 20, 1, true)).ok());
  ASSERT_TRUE(batch.PutPending("orders", Pending("o1", 15, 5, true)).ok());
  DeadLetter dl = ParkingLetter(10, "{broken", 123);
  ASSERT_TRUE(batch.AddDeadLetter(&dl).ok());
  EXPECT_EQ(dl.id, 1);
  ASSERT_TRUE(batch.PutEventId("orders", "ev-1", 3).ok());
  ASSERT_TRUE(batch.AddCounters({{"orders.duplicates", 2}, {"orders.out_of_order", 1}}).ok());
  ASSERT_TRUE(batch.AddCounters({{"orders.duplicates", 3}}).ok());
  ASSERT_TRUE(batch.SetPosition("orders", 0, 20).ok());
  ASSERT_TRUE(batch.SetPosition("orders", 1, 4).ok());
}

void ExpectNothing(Store& store, const TableSpec& table) {
  EXPECT_TRUE(Scan(store, table).empty());
  EXPECT_FALSE(store.GetKeyState("orders", "o1")->has_value());
  EXPECT_TRUE(store.ListPending("orders")->empty());
  EXPECT_TRUE(store.ListDeadLetters(false)->empty());
  EXPECT_TRUE(store.LoadEventIds("orders")->empty());
  EXPECT_TRUE(store.GetPositions("orders")->empty());
  EXPECT_TRUE(store.GetCounters()->empty());
}

TEST_P(StoreTest, UncommittedBatchLeavesNothing) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const TableSpec table = OrdersTable("orders__v1");
  ASSERT_TRUE(store->CreateTable(table).ok());
  {
    std::unique_ptr<Batch> batch = store->BeginBatch();
    WriteEverything(*batch, table);
    // Inside the batch, its own connection sees the writes.
    EXPECT_TRUE(store->GetRow(table, {Value::Text("o1")})->has_value());
  }  // destroyed without Commit
  ExpectNothing(*store, table);
  auto other = Open();
  ASSERT_NE(other, nullptr);
  ExpectNothing(*other, table);

  // The connection is usable again: a new batch commits normally.
  std::unique_ptr<Batch> batch = store->BeginBatch();
  ASSERT_TRUE(batch->Upsert(table, OrderRow("o2", 1, 1.0)).ok());
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_THAT(Scan(*other, table), ElementsAre(OrderRow("o2", 1, 1.0)));
}

TEST_P(StoreTest, CommitMakesEverythingVisibleToAnotherStore) {
  auto store = Open();
  auto other = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_NE(other, nullptr);
  const TableSpec table = OrdersTable("orders__v1");
  ASSERT_TRUE(store->CreateTable(table).ok());

  std::unique_ptr<Batch> batch = store->BeginBatch();
  WriteEverything(*batch, table);
  // Not visible elsewhere before the commit.
  EXPECT_FALSE(other->GetRow(table, {Value::Text("o1")})->has_value());
  EXPECT_TRUE(other->GetCounters()->empty());
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(batch->Upsert(table, OrderRow("o9", 1, 1)).code(),
            absl::StatusCode::kFailedPrecondition);

  absl::StatusOr<std::optional<Row>> row = other->GetRow(table, {Value::Text("o1")});
  ASSERT_TRUE(row.ok()) << row.status();
  ASSERT_TRUE(row->has_value());
  EXPECT_EQ(**row, OrderRow("o1", 2, 9.5));

  std::optional<KeyState> state = *other->GetKeyState("orders", "o1");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->key, "o1");
  EXPECT_EQ(state->last_sequence, 7);
  EXPECT_EQ(state->parked_on, 0);
  EXPECT_FALSE(other->GetKeyState("orders", "o2")->has_value());
  EXPECT_FALSE(other->GetKeyState("payments", "o1")->has_value());

  // Stashed by sequence, then held by position.
  std::vector<PendingEvent> pending = *other->GetPending("orders", "o1");
  ASSERT_EQ(pending.size(), 4u);
  EXPECT_EQ(pending[0].position, 11);
  EXPECT_EQ(pending[0].sequence, 8);
  EXPECT_FALSE(pending[0].held);
  EXPECT_EQ(pending[1].position, 12);
  EXPECT_EQ(pending[2].position, 15);
  EXPECT_TRUE(pending[2].held);
  EXPECT_EQ(pending[3].position, 20);
  EXPECT_EQ(pending[3].log_time_us, 1020);
  EXPECT_EQ(pending[3].raw, "{\"pos\":20}");
  std::vector<PendingEvent> all = *other->ListPending("orders");
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].position, 11);
  EXPECT_EQ(all[3].position, 20);

  std::vector<DeadLetter> dls = *other->ListDeadLetters(true);
  ASSERT_EQ(dls.size(), 1u);
  EXPECT_EQ(dls[0].id, 1);
  EXPECT_EQ(dls[0].source, "orders");
  EXPECT_EQ(dls[0].position, 10);
  EXPECT_EQ(dls[0].key, "o1");
  EXPECT_EQ(dls[0].reason, "bad amount");
  EXPECT_EQ(dls[0].raw, "{broken");
  EXPECT_EQ(dls[0].created_us, 123);
  EXPECT_EQ(dls[0].state, DeadLetterState::kOpen);
  EXPECT_TRUE(dls[0].parks_key);

  EXPECT_THAT(*other->LoadEventIds("orders"), ElementsAre(Pair("ev-1", 3)));
  EXPECT_THAT(*other->GetPositions("orders"), ElementsAre(Pair(0, 20), Pair(1, 4)));
  EXPECT_THAT(*other->GetCounters(),
              ElementsAre(Pair("orders.duplicates", 5), Pair("orders.out_of_order", 1)));

  // Counters add across batches; pending events can be deleted.
  batch = store->BeginBatch();
  ASSERT_TRUE(batch->AddCounters({{"orders.duplicates", 10}}).ok());
  ASSERT_TRUE(batch->DeletePending("orders", 0, 11).ok());
  ASSERT_TRUE(batch->DeletePending("orders", 0, 999).ok());  // absent: not an error
  KeyState parked{"o1", 9, 1};
  ASSERT_TRUE(batch->PutKeyState("orders", parked).ok());
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(other->GetCounters()->at("orders.duplicates"), 15);
  EXPECT_EQ(other->GetPending("orders", "o1")->size(), 3u);
  EXPECT_EQ((*other->GetKeyState("orders", "o1"))->parked_on, 1);
  EXPECT_EQ((*other->GetKeyState("orders", "o1"))->last_sequence, 9);
}

TEST_P(StoreTest, EmptyBatchCommits) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::unique_ptr<Batch> batch = store->BeginBatch();
  EXPECT_TRUE(batch->Commit().ok());
  EXPECT_EQ(batch->Commit().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_P(StoreTest, UpsertReplacesAndDeleteRemoves) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  TableSpec table;
  table.name = "lines__v1";
  table.columns = {{"order_id", Type::kText}, {"line", Type::kInt}, {"sku", Type::kText}};
  table.key = {0, 1};
  ASSERT_TRUE(store->CreateTable(table).ok());

  auto batch = store->BeginBatch();
  ASSERT_TRUE(batch->Upsert(table, {Value::Text("a"), Value::Int(1), Value::Text("x")}).ok());
  ASSERT_TRUE(batch->Upsert(table, {Value::Text("a"), Value::Int(2), Value::Text("y")}).ok());
  ASSERT_TRUE(batch->Upsert(table, {Value::Text("b"), Value::Int(1), Value::Text("z")}).ok());
  ASSERT_TRUE(batch->Upsert(table, {Value::Text("a"), Value::Int(1), Value::Text("X2")}).ok());
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_THAT(Scan(*store, table),
              ElementsAre(ElementsAre(Value::Text("a"), Value::Int(1), Value::Text("X2")),
                          ElementsAre(Value::Text("a"), Value::Int(2), Value::Text("y")),
                          ElementsAre(Value::Text("b"), Value::Int(1), Value::Text("z"))));

  batch = store->BeginBatch();
  ASSERT_TRUE(batch->Delete(table, {Value::Text("a"), Value::Int(2)}).ok());
  ASSERT_TRUE(batch->Delete(table, {Value::Text("nope"), Value::Int(1)}).ok());
  EXPECT_EQ(batch->Delete(table, {Value::Text("a")}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(batch->Upsert(table, {Value::Text("a")}).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_THAT(Scan(*store, table),
              ElementsAre(ElementsAre(Value::Text("a"), Value::Int(1), Value::Text("X2")),
                          ElementsAre(Value::Text("b"), Value::Int(1), Value::Text("z"))));
  EXPECT_FALSE(store->GetRow(table, {Value::Text("a"), Value::Int(2)})->has_value());
  EXPECT_EQ(store->GetRow(table, {Value::Text("a")}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreTest, TypesRoundTrip) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  TableSpec table;
  table.name = "types__v1";
  table.columns = {{"at", Type::kTime},    {"id", Type::kInt},       {"name", Type::kText},
                   {"price", Type::kReal}, {"flag", Type::kBool},    {"wait", Type::kInterval},
                   {"seen", Type::kTime},  {"anything", Type::kNull}};
  table.key = {0, 1};
  table.indexes = {{{"name", "-price"}}};
  // An untyped column keeps each value's storage class only in SQLite.
  const bool untyped = sqlite();
  if (!untyped) table.columns.pop_back();
  ASSERT_TRUE(store->CreateTable(table).ok());

  const int64_t t1 = *ParseTime("2024-03-01T10:00:00.25Z");
  const int64_t t2 = *ParseTime("2024-03-01T10:00:01Z");
  const Row full = {Value::Time(t1),  Value::Int(-5),     Value::Text("héllo \"q\""),
                    Value::Real(2.5), Value::Bool(true),  Value::Interval(-1'500'000),
                    Value::Time(t2),  Value::Text("free")};
  const Row nulls = {Value::Time(t2),    Value::Int(1 << 30), Value::Null(), Value::Null(),
                     Value::Bool(false), Value::Null(),       Value::Null(), Value::Int(7)};
  Row extremes = {Value::Time(t2), Value::Int(INT64_MAX),      Value::Text(""), Value::Real(-1e300),
                  Value::Null(),   Value::Interval(INT64_MIN), Value::Time(0),  Value::Real(0.5)};
  Row full_row = full;
  Row nulls_row = nulls;
  if (!untyped) {
    full_row.pop_back();
    nulls_row.pop_back();
    extremes.pop_back();
  }
  auto batch = store->BeginBatch();
  ASSERT_TRUE(batch->Upsert(table, full_row).ok());
  ASSERT_TRUE(batch->Upsert(table, nulls_row).ok());
  ASSERT_TRUE(batch->Upsert(table, extremes).ok());
  ASSERT_TRUE(batch->Commit().ok());

  auto other = Open();
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(**other->GetRow(table, {Value::Time(t1), Value::Int(-5)}), full_row);
  EXPECT_EQ(**other->GetRow(table, {Value::Time(t2), Value::Int(1 << 30)}), nulls_row);
  EXPECT_EQ(**other->GetRow(table, {Value::Time(t2), Value::Int(INT64_MAX)}), extremes);
  EXPECT_THAT(Scan(*other, table), ElementsAre(full_row, nulls_row, extremes));
  if (!untyped) return;

  // kTime is stored as ISO-8601 text, kBool as 0/1: visible through an untyped reading.
  TableSpec raw = table;
  for (ColumnSpec& c : raw.columns) c.type = Type::kNull;
  std::vector<Row> rows = Scan(*other, raw);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0][0], Value::Text("2024-03-01T10:00:00.250000Z"));
  EXPECT_EQ(rows[0][4], Value::Int(1));
  EXPECT_EQ(rows[0][5], Value::Int(-1'500'000));
  EXPECT_EQ(rows[2][6], Value::Text("1970-01-01T00:00:00.000000Z"));
}

TEST_P(StoreTest, QuotedIdentifiers) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  TableSpec table;
  table.name = "we\"ird view__v1";
  table.columns = {{"select", Type::kText}, {"a \"b\"", Type::kInt}};
  table.key = {0};
  table.indexes = {{{"-a \"b\""}}};
  ASSERT_TRUE(store->CreateTable(table).ok());
  auto batch = store->BeginBatch();
  ASSERT_TRUE(batch->Upsert(table, {Value::Text("k"), Value::Int(1)}).ok());
  ASSERT_TRUE(batch->Commit().ok());
  ASSERT_TRUE(store->ActivateVersion("we\"ird view", 1, table.name).ok());
  TableSpec view = table;
  view.name = "we\"ird view";
  EXPECT_THAT(Scan(*store, view), ElementsAre(ElementsAre(Value::Text("k"), Value::Int(1))));
}

TEST_P(StoreTest, CreateTableDropsLeftover) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  TableSpec table = OrdersTable("orders__v1");
  ASSERT_TRUE(store->CreateTable(table).ok());
  auto batch = store->BeginBatch();
  ASSERT_TRUE(batch->Upsert(table, OrderRow("o1", 1, 1)).ok());
  ASSERT_TRUE(batch->Commit().ok());
  // Recreated with a different shape; cached statements must follow.
  table.columns.push_back({"note", Type::kText});
  ASSERT_TRUE(store->CreateTable(table).ok());
  EXPECT_TRUE(Scan(*store, table).empty());
  batch = store->BeginBatch();
  ASSERT_TRUE(
      batch->Upsert(table, {Value::Text("o2"), Value::Int(2), Value::Real(2), Value::Text("n")})
          .ok());
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_THAT(Scan(*store, table), ElementsAre(ElementsAre(Value::Text("o2"), Value::Int(2),
                                                           Value::Real(2), Value::Text("n"))));
}

TEST_P(StoreTest, ActivateVersionSwapsTheView) {
  auto store = Open();
  auto reader = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_NE(reader, nullptr);
  const TableSpec v1 = OrdersTable("orders__v1");
  const TableSpec v2 = OrdersTable("orders__v2");
  ASSERT_TRUE(store->CreateTable(v1).ok());
  ASSERT_TRUE(store->CreateTable(v2).ok());
  auto batch = store->BeginBatch();
  ASSERT_TRUE(batch->Upsert(v1, OrderRow("old", 1, 1.0)).ok());
  ASSERT_TRUE(batch->Upsert(v2, OrderRow("new-a", 2, 2.0)).ok());
  ASSERT_TRUE(batch->Upsert(v2, OrderRow("new-b", 3, 3.0)).ok());
  ASSERT_TRUE(batch->Commit().ok());
  ASSERT_TRUE(store->RecordViewVersion({"orders", 1, "orders__v1", "hash1", false}).ok());
  ASSERT_TRUE(store->RecordViewVersion({"orders", 2, "orders__v2", "hash2", false}).ok());

  const TableSpec view = OrdersTable("orders");
  ASSERT_TRUE(store->ActivateVersion("orders", 1, "orders__v1").ok());
  EXPECT_THAT(Scan(*reader, view), ElementsAre(OrderRow("old", 1, 1.0)));
  std::vector<ViewVersion> versions = *reader->ListViewVersions();
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].version, 1);
  EXPECT_EQ(versions[0].table, "orders__v1");
  EXPECT_EQ(versions[0].definition_hash, "hash1");
  EXPECT_TRUE(versions[0].active);
  EXPECT_FALSE(versions[1].active);

  ASSERT_TRUE(store->ActivateVersion("orders", 2, "orders__v2").ok());
  EXPECT_THAT(Scan(*reader, view),
              ElementsAre(OrderRow("new-a", 2, 2.0), OrderRow("new-b", 3, 3.0)));
  versions = *reader->ListViewVersions();
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_FALSE(versions[0].active);
  EXPECT_TRUE(versions[1].active);
  EXPECT_EQ(versions[1].definition_hash, "hash2");

  // The old version can go; the view keeps working.
  ASSERT_TRUE(store->DropTable("orders__v1").ok());
  EXPECT_THAT(Scan(*reader, view),
              ElementsAre(OrderRow("new-a", 2, 2.0), OrderRow("new-b", 3, 3.0)));
  EXPECT_FALSE(reader->ScanTable(v1, [](const Row&) {}).ok());

  // Activating a version that was never recorded records it; a missing table is refused.
  const TableSpec v3 = OrdersTable("orders__v3");
  ASSERT_TRUE(store->CreateTable(v3).ok());
  ASSERT_TRUE(store->ActivateVersion("orders", 3, "orders__v3").ok());
  EXPECT_TRUE(Scan(*reader, view).empty());
  versions = *reader->ListViewVersions();
  ASSERT_EQ(versions.size(), 3u);
  EXPECT_TRUE(versions[2].active);
  EXPECT_EQ(versions[2].table, "orders__v3");
  EXPECT_FALSE(versions[1].active);
  EXPECT_EQ(store->ActivateVersion("orders", 4, "orders__v4").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Scan(*reader, view).empty());  // still v3
}

TEST_P(StoreTest, ReadersAlwaysSeeAViewDuringSwaps) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const TableSpec v1 = OrdersTable("orders__v1");
  const TableSpec v2 = OrdersTable("orders__v2");
  ASSERT_TRUE(store->CreateTable(v1).ok());
  ASSERT_TRUE(store->CreateTable(v2).ok());
  auto batch = store->BeginBatch();
  ASSERT_TRUE(batch->Upsert(v1, OrderRow("a", 1, 1.0)).ok());
  ASSERT_TRUE(batch->Upsert(v2, OrderRow("b", 2, 2.0)).ok());
  ASSERT_TRUE(batch->Commit().ok());
  ASSERT_TRUE(store->ActivateVersion("orders", 1, "orders__v1").ok());

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> reads{0};
  std::thread reader_thread([&] {
    auto reader = Open();
    const TableSpec view = OrdersTable("orders");
    while (!stop.load()) {
      size_t n = 0;
      absl::Status s = reader->ScanTable(view, [&](const Row&) { ++n; });
      if (!s.ok() || n != 1) ++failures;
      ++reads;
    }
  });
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(
        store->ActivateVersion("orders", 1 + i % 2, i % 2 ? "orders__v1" : "orders__v2").ok());
  }
  while (reads.load() < 50) std::this_thread::yield();
  stop = true;
  reader_thread.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_P(StoreTest, BulkInsertThenScanInKeyOrder) {
  auto store = Open(/*bulk_mode=*/true);
  ASSERT_NE(store, nullptr);
  TableSpec table;
  table.name = "bulk__v1";
  table.columns = {{"region", Type::kText},
                   {"id", Type::kInt},
                   {"amount", Type::kReal},
                   {"at", Type::kTime},
                   {"note", Type::kText}};
  table.key = {0, 1};
  table.indexes = {{{"-amount"}}};
  ASSERT_TRUE(store->CreateTable(table).ok());

  constexpr int kRows = 100'000;
  constexpr int64_t kBase = 1'700'000'000'000'000;
  auto make = [&](int i) {
    return Row{Value::Text(i < kRows / 2 ? "eu" : "us"), Value::Int(i), Value::Real(i * 0.5),
               Value::Time(kBase + int64_t{i} * 1'000'000),
               i % 7 == 0 ? Value::Null() : Value::Text("note " + std::to_string(i))};
  };
  int next = 0;
  Row row;
  absl::Status status = store->BulkInsert(table, [&]() -> const Row* {
    if (next == kRows) return nullptr;
    row = make(next++);
    return &row;
  });
  ASSERT_TRUE(status.ok()) << status;

  auto reader = Open();
  ASSERT_NE(reader, nullptr);
  int seen = 0;
  bool in_order = true;
  ASSERT_TRUE(reader
                  ->ScanTable(table,
                              [&](const Row& r) {
                                if (!(r == make(seen))) in_order = false;
                                ++seen;
                              })
                  .ok());
  EXPECT_EQ(seen, kRows);
  EXPECT_TRUE(in_order);
  EXPECT_EQ(**reader->GetRow(table, {Value::Text("us"), Value::Int(kRows - 1)}), make(kRows - 1));

  // The secondary index was rebuilt after the load.
  if (sqlite()) {
    TableSpec master;
    master.name = "sqlite_master";
    master.columns = {{"name", Type::kText}, {"tbl_name", Type::kText}, {"sql", Type::kText}};
    master.key = {0};
    bool index_found = false;
    for (const Row& r : Scan(*reader, master)) {
      if (r[0] == Value::Text("bulk__v1__i1")) {
        index_found = true;
        EXPECT_THAT(r[2].as_text(), HasSubstr("\"amount\" DESC"));
      }
    }
    EXPECT_TRUE(index_found);
  }

  // Duplicate keys are an error with context.
  const TableSpec dup = OrdersTable("dup__v1");
  ASSERT_TRUE(store->CreateTable(dup).ok());
  int n = 0;
  Row d;
  status = store->BulkInsert(dup, [&]() -> const Row* {
    if (n == 3) return nullptr;
    ++n;
    d = OrderRow("same", n, 1.0);
    return &d;
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  if (sqlite()) {
    EXPECT_THAT(status.message(), HasSubstr("sqlite: INSERT INTO \"dup__v1\""));
    EXPECT_THAT(status.message(), HasSubstr("UNIQUE constraint failed"));
  } else if (memory()) {
    EXPECT_THAT(status.message(), HasSubstr("memory: bulk insert into dup__v1: duplicate key"));
  } else {
    EXPECT_THAT(status.message(), HasSubstr("dup__v1"));
    EXPECT_THAT(status.message(), HasSubstr("SQLSTATE 23505"));
  }
  // The failed load left no transaction open.
  auto batch = store->BeginBatch();
  ASSERT_TRUE(batch->SetPosition("orders", 0, 1).ok());
  ASSERT_TRUE(batch->Commit().ok());
}

// A connection's owner stopping (a lookup's preload over a large view) interrupts the scan
// from another thread: it ends at once with Cancelled, not after the last row, and later scans
// on that connection too. PostgreSQL streams the rows (single-row mode), so a table larger
// than memory is never held whole either; the same for a SELECT (reconciliation's).
TEST_P(StoreTest, ScanStopsWhenInterruptedFromAnotherThread) {
  if (memory()) GTEST_SKIP() << "the memory store's scans are in-process copies";
  auto store = Open(/*bulk_mode=*/true);
  ASSERT_NE(store, nullptr);
  TableSpec table;
  table.name = "scanned__v1";
  table.columns = {{"id", Type::kInt}, {"note", Type::kText}};
  table.key = {0};
  ASSERT_TRUE(store->CreateTable(table).ok());
  constexpr int kRows = 20'000;
  int next = 0;
  Row row;
  ASSERT_TRUE(store
                  ->BulkInsert(table,
                               [&]() -> const Row* {
                                 if (next == kRows) return nullptr;
                                 row = {Value::Int(next), Value::Text(std::to_string(next))};
                                 ++next;
                                 return &row;
                               })
                  .ok());
  // A scan, and a SELECT (reconciliation's) streamed the same way: each stops at Interrupt.
  using Read = std::function<absl::Status(Store&, const std::function<void(const Row&)>&)>;
  const std::vector<std::pair<std::string, Read>> reads = {
      {"scan", [&](Store& s, const auto& each) { return s.ScanTable(table, each); }},
      {"query select", [&](Store& s, const auto& each) {
         return s.QuerySelect("SELECT id, note FROM scanned__v1 ORDER BY id", table.columns, each);
       }}};
  for (const auto& [name, read] : reads) {
    SCOPED_TRACE(name);
    auto reader = Open();
    ASSERT_NE(reader, nullptr);
    std::mutex mu;
    std::condition_variable cv;
    bool first_row_seen = false, interrupted = false;
    std::thread stopper([&] {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return first_row_seen; });
      reader->Interrupt();
      interrupted = true;
      cv.notify_all();
    });
    int seen = 0;
    const absl::Status scanned = read(*reader, [&](const Row&) {
      if (++seen > 1) return;
      std::unique_lock lock(mu);
      first_row_seen = true;
      cv.notify_all();
      cv.wait(lock, [&] { return interrupted; });  // the read goes on once Interrupt returned
    });
    stopper.join();
    EXPECT_EQ(scanned.code(), absl::StatusCode::kCancelled) << scanned;
    EXPECT_EQ(seen, 1);
    seen = 0;
    EXPECT_EQ(read(*reader, [&](const Row&) { ++seen; }).code(), absl::StatusCode::kCancelled);
    EXPECT_EQ(seen, 0);
  }
  // Another connection is untouched.
  EXPECT_EQ(Scan(*store, table).size(), static_cast<size_t>(kRows));
}

// Each SQLite connection's page cache is the configured one: readers' (every HTTP thread has
// one) apart from the writers', so the caches' memory is bounded by config.
TEST_P(StoreTest, PageCachesAreTheConfiguredSizes) {
  if (!sqlite()) GTEST_SKIP() << "a SQLite setting";
  StoreOptions options = options_;
  options.cache_kib = 3'072;
  options.reader_cache_kib = 1'024;
  auto cache_kib = [](Store& store) {
    int64_t kib = 0;
    EXPECT_TRUE(store
                    .QuerySelect("PRAGMA cache_size", {{"n", Type::kInt}},
                                 [&](const Row& row) { kib = -row[0].as_int(); })
                    .ok());
    return kib;
  };
  for (StoreRole role : {StoreRole::kWriter, StoreRole::kDurableWriter, StoreRole::kReader}) {
    auto store = OpenStore(options, role);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(cache_kib(**store), role == StoreRole::kReader ? 1'024 : 3'072);
  }
}

// More rows than one bulk transaction holds: the load commits in chunks.
TEST_P(StoreTest, BulkInsertCommitsInChunks) {
  auto store = Open(/*bulk_mode=*/true);
  auto reader = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_NE(reader, nullptr);
  TableSpec table;
  table.name = "big__v1";
  table.columns = {{"id", Type::kInt}, {"v", Type::kInt}};
  table.key = {0};
  ASSERT_TRUE(store->CreateTable(table).ok());
  constexpr int64_t kRows = 1'100'001;
  int64_t next = 0;
  Row row(2);
  absl::Status status = store->BulkInsert(table, [&]() -> const Row* {
    if (next == kRows) return nullptr;
    row[0] = Value::Int(next);
    row[1] = Value::Int(next * 3);
    ++next;
    return &row;
  });
  ASSERT_TRUE(status.ok()) << status;
  int64_t count = 0;
  bool ok = true;
  ASSERT_TRUE(reader
                  ->ScanTable(table,
                              [&](const Row& r) {
                                if (r[0].as_int() != count || r[1].as_int() != count * 3) {
                                  ok = false;
                                }
                                ++count;
                              })
                  .ok());
  EXPECT_EQ(count, kRows);
  EXPECT_TRUE(ok);
  // The connection is back to normal writes.
  std::vector<LogRecord> records = {Record("k", "v")};
  EXPECT_EQ(*store->AppendLog(&records), 1);
}

// Throughput of BulkInsert for 1M rows of 10 columns; run by hand with
// --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'.
TEST_P(StoreTest, DISABLED_BulkInsertThroughput) {
  auto store = Open(/*bulk_mode=*/true);
  ASSERT_NE(store, nullptr);
  TableSpec table;
  table.name = "wide__v1";
  table.columns = {{"id", Type::kInt},    {"customer", Type::kText}, {"status", Type::kText},
                   {"qty", Type::kInt},   {"amount", Type::kReal},   {"created", Type::kTime},
                   {"paid", Type::kBool}, {"region", Type::kText},   {"ttl", Type::kInterval},
                   {"score", Type::kReal}};
  table.key = {0};
  ASSERT_TRUE(store->CreateTable(table).ok());
  constexpr int kRows = 1'000'000;
  int next = 0;
  Row row(10);
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = store->BulkInsert(table, [&]() -> const Row* {
    if (next == kRows) return nullptr;
    const int i = next++;
    row[0] = Value::Int(i);
    row[1] = Value::Text("customer-" + std::to_string(i % 5000));
    row[2] = Value::Text(i % 3 ? "shipped" : "pending");
    row[3] = Value::Int(i % 17);
    row[4] = Value::Real(i * 1.25);
    row[5] = Value::Time(1'700'000'000'000'000 + int64_t{i} * 1000);
    row[6] = Value::Bool(i % 2);
    row[7] = Value::Text("eu-west");
    row[8] = Value::Interval(int64_t{i} * 10);
    row[9] = Value::Real(0.5);
    return &row;
  });
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(status.ok()) << status;
  std::printf("BulkInsert: %d rows in %.2fs = %.0f rows/s\n", kRows, secs, kRows / secs);
  int64_t count = 0;
  ASSERT_TRUE(store->ScanTable(table, [&](const Row&) { ++count; }).ok());
  EXPECT_EQ(count, kRows);
}

TEST_P(StoreTest, DeadLetterIdsAndStates) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto batch = store->BeginBatch();
  std::vector<DeadLetter> dls(3);
  for (int i = 0; i < 3; ++i) {
    dls[i].source = "orders";
    dls[i].partition = i;
    dls[i].position = 100 + i;
    dls[i].key = "k" + std::to_string(i);
    dls[i].reason = "reason " + std::to_string(i);
    dls[i].raw = "raw" + std::to_string(i);
    ASSERT_TRUE(batch->AddDeadLetter(&dls[i]).ok());
  }
  EXPECT_EQ(dls[0].id, 1);
  EXPECT_EQ(dls[1].id, 2);
  EXPECT_EQ(dls[2].id, 3);
  EXPECT_GT(dls[0].created_us, 0);  // filled in when 0
  ASSERT_TRUE(batch->Commit().ok());

  batch = store->BeginBatch();
  ASSERT_TRUE(batch->SetDeadLetterState(2, DeadLetterState::kReplayed).ok());
  ASSERT_TRUE(batch->SetDeadLetterState(3, DeadLetterState::kDiscarded).ok());
  EXPECT_EQ(batch->SetDeadLetterState(99, DeadLetterState::kDiscarded).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(batch->Commit().ok());

  auto other = Open();
  ASSERT_NE(other, nullptr);
  std::vector<DeadLetter> open = *other->ListDeadLetters(true);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].id, 1);
  std::vector<DeadLetter> all = *other->ListDeadLetters(false);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].state, DeadLetterState::kOpen);
  EXPECT_EQ(all[1].state, DeadLetterState::kReplayed);
  EXPECT_EQ(all[2].state, DeadLetterState::kDiscarded);
  std::optional<DeadLetter> two = *other->GetDeadLetter(2);
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(two->partition, 1);
  EXPECT_EQ(two->position, 101);
  EXPECT_EQ(two->key, "k1");
  EXPECT_EQ(two->reason, "reason 1");
  EXPECT_EQ(two->raw, "raw1");
  EXPECT_EQ(two->created_us, dls[1].created_us);
  EXPECT_FALSE(two->parks_key);
  EXPECT_FALSE(other->GetDeadLetter(99)->has_value());

  // Ids keep growing after reopening.
  batch = other->BeginBatch();
  DeadLetter fourth;
  fourth.source = "orders";
  ASSERT_TRUE(batch->AddDeadLetter(&fourth).ok());
  EXPECT_EQ(fourth.id, 4);
  ASSERT_TRUE(batch->Commit().ok());
}

TEST_P(StoreTest, DeadLetterForTheSamePositionIsReplacedKeepingItsId) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  DeadLetter first = ParkingLetter(42, "r1", 100);
  DeadLetter other = first;
  other.position = 43;
  auto batch = store->BeginBatch();
  ASSERT_TRUE(batch->AddDeadLetter(&first).ok());
  ASSERT_TRUE(batch->AddDeadLetter(&other).ok());
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(first.id, 1);
  EXPECT_EQ(other.id, 2);

  batch = store->BeginBatch();
  ASSERT_TRUE(batch->SetDeadLetterState(1, DeadLetterState::kReplayed).ok());
  ASSERT_TRUE(batch->Commit().ok());
  // The replayed event fails again.
  DeadLetter again = first;
  again.id = 0;
  again.reason = "still bad";
  again.created_us = 200;
  again.state = DeadLetterState::kOpen;
  batch = store->BeginBatch();
  ASSERT_TRUE(batch->AddDeadLetter(&again).ok());
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(again.id, 1);

  std::vector<DeadLetter> all = *store->ListDeadLetters(false);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, 1);
  EXPECT_EQ(all[0].reason, "still bad");
  EXPECT_EQ(all[0].created_us, 200);
  EXPECT_EQ(all[0].state, DeadLetterState::kOpen);
  EXPECT_EQ(all[1].id, 2);
  EXPECT_EQ(all[1].reason, "bad amount");

  // A new position still gets a new id.
  DeadLetter third = first;
  third.position = 44;
  batch = store->BeginBatch();
  ASSERT_TRUE(batch->AddDeadLetter(&third).ok());
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(third.id, 3);
}

TEST_P(StoreTest, BatchActivateVersionCommitsWithTheBatch) {
  auto store = Open();
  auto reader = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_NE(reader, nullptr);
  const TableSpec v1 = OrdersTable("orders__v1");
  const TableSpec v2 = OrdersTable("orders__v2");
  ASSERT_TRUE(store->CreateTable(v1).ok());
  ASSERT_TRUE(store->CreateTable(v2).ok());
  ASSERT_TRUE(store->ActivateVersion("orders", 1, "orders__v1").ok());
  const TableSpec view = OrdersTable("orders");

  {
    auto batch = store->BeginBatch();
    ASSERT_TRUE(batch->Upsert(v2, OrderRow("b", 2, 2.0)).ok());
    ASSERT_TRUE(batch->ActivateVersion("orders", 2, "orders__v2").ok());
    ASSERT_TRUE(batch->SetPosition("orders", 0, 9).ok());
    EXPECT_EQ(batch->ActivateVersion("orders", 3, "orders__v3").code(),
              absl::StatusCode::kNotFound);
  }  // rolled back: the view still points at v1
  EXPECT_TRUE(Scan(*reader, view).empty());
  EXPECT_TRUE((*reader->ListViewVersions())[0].active);
  EXPECT_EQ(reader->ListViewVersions()->size(), 1u);

  auto batch = store->BeginBatch();
  ASSERT_TRUE(batch->Upsert(v2, OrderRow("b", 2, 2.0)).ok());
  ASSERT_TRUE(batch->ActivateVersion("orders", 2, "orders__v2").ok());
  ASSERT_TRUE(batch->ClearSourceState("orders").ok());
  ASSERT_TRUE(batch->SetPosition("orders", 0, 9).ok());
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_THAT(Scan(*reader, view), ElementsAre(OrderRow("b", 2, 2.0)));
  std::vector<ViewVersion> versions = *reader->ListViewVersions();
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_FALSE(versions[0].active);
  EXPECT_TRUE(versions[1].active);
  EXPECT_THAT(*reader->GetPositions("orders"), ElementsAre(Pair(0, 9)));
}

TEST_P(StoreTest, PruneEventIds) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto batch = store->BeginBatch();
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(batch->PutEventId("orders", "ev" + std::to_string(i), int64_t{i} * 10).ok());
  }
  ASSERT_TRUE(batch->PutEventId("payments", "ev1", 1).ok());
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(store->LoadEventIds("orders")->size(), 5u);

  batch = store->BeginBatch();
  ASSERT_TRUE(batch->PruneEventIds("orders", 30).ok());
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_THAT(*store->LoadEventIds("orders"),
              ElementsAre(Pair("ev3", 30), Pair("ev4", 40), Pair("ev5", 50)));
  EXPECT_THAT(*store->LoadEventIds("payments"), ElementsAre(Pair("ev1", 1)));
}

TEST_P(StoreTest, ClearSourceStateTouchesOnlyThatSource) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto batch = store->BeginBatch();
  for (const char* source : {"orders", "payments"}) {
    ASSERT_TRUE(batch->PutKeyState(source, {"k", 3, 0}).ok());
    ASSERT_TRUE(batch->PutPending(source, Pending("k", 5, 5, false)).ok());
    ASSERT_TRUE(batch->PutEventId(source, "ev", 4).ok());
    ASSERT_TRUE(batch->SetPosition(source, 0, 5).ok());
  }
  ASSERT_TRUE(batch->AddCounters({{"orders.duplicates", 1}}).ok());
  ASSERT_TRUE(batch->Commit().ok());

  batch = store->BeginBatch();
  ASSERT_TRUE(batch->ClearSourceState("orders").ok());
  ASSERT_TRUE(batch->PutKeyState("orders", {"fresh", 1, 0}).ok());
  ASSERT_TRUE(batch->Commit().ok());

  EXPECT_FALSE(store->GetKeyState("orders", "k")->has_value());
  EXPECT_EQ((*store->GetKeyState("orders", "fresh"))->last_sequence, 1);
  EXPECT_TRUE(store->ListPending("orders")->empty());
  EXPECT_TRUE(store->LoadEventIds("orders")->empty());
  EXPECT_THAT(*store->GetPositions("orders"), ElementsAre(Pair(0, 5)));  // positions stay
  EXPECT_THAT(*store->GetCounters(), ElementsAre(Pair("orders.duplicates", 1)));
  EXPECT_EQ((*store->GetKeyState("payments", "k"))->last_sequence, 3);
  EXPECT_EQ(store->ListPending("payments")->size(), 1u);
  EXPECT_EQ(store->LoadEventIds("payments")->size(), 1u);
}

TEST_P(StoreTest, FailedStatementReportsContext) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const TableSpec table = OrdersTable("orders__v1");
  ASSERT_TRUE(store->CreateTable(table).ok());
  auto batch = store->BeginBatch();
  ASSERT_TRUE(batch->Upsert(table, OrderRow("ok", 1, 1)).ok());
  absl::Status status = batch->Upsert(table, {Value::Null(), Value::Int(1), Value::Real(1)});
  if (sqlite()) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
    EXPECT_THAT(status.message(), HasSubstr("sqlite: INSERT INTO \"orders__v1\": NOT NULL"));
  } else {
    // Rows are sent (memory: applied) at commit; a NULL key is refused when it is given.
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(),
                HasSubstr(GetParam() + ": upsert into orders__v1: key column order_id"));
  }
  // Only the failed statement was undone.
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_THAT(Scan(*store, table), ElementsAre(OrderRow("ok", 1, 1)));

  TableSpec missing = OrdersTable("missing");
  EXPECT_EQ(store->GetRow(missing, {Value::Text("x")}).status().code(),
            sqlite() ? absl::StatusCode::kInternal : absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(store->GetRow(missing, {Value::Text("x")}).status().message()),
              HasSubstr(sqlite() ? "no such table: missing" : "missing\" does not exist"));
}

TEST_P(StoreTest, LockedDatabaseIsUnavailableAfterTimeout) {
  if (!sqlite()) {
    // Appenders never wait for a batch (PostgreSQL: row locks, MVCC; memory: a batch takes
    // the lock only to commit); only the nesting rule applies.
    auto holder = Open();
    ASSERT_NE(holder, nullptr);
    auto batch = holder->BeginBatch();
    ASSERT_TRUE(batch->SetPosition("orders", 0, 1).ok());
    auto nested = holder->BeginBatch();
    EXPECT_EQ(nested->SetPosition("orders", 0, 2).code(), absl::StatusCode::kFailedPrecondition);
    auto other = Open();
    std::vector<LogRecord> records = {Record("k", "v")};
    EXPECT_TRUE(other->AppendLog(&records).ok());
    ASSERT_TRUE(batch->Commit().ok());
    EXPECT_THAT(*other->GetPositions("orders"), ElementsAre(Pair(0, 1)));
    return;
  }
  auto holder = Open();
  auto waiter = Open(/*bulk_mode=*/false, /*busy_timeout_ms=*/100);
  ASSERT_NE(holder, nullptr);
  ASSERT_NE(waiter, nullptr);
  auto batch = holder->BeginBatch();
  ASSERT_TRUE(batch->SetPosition("orders", 0, 1).ok());  // takes the write lock

  std::vector<LogRecord> records = {Record("k", "v")};
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<int64_t> appended = waiter->AppendLog(&records);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(appended.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_GE(waited, std::chrono::milliseconds(90));
  // Readers are not blocked by the writer.
  EXPECT_EQ(*waiter->LogEnd(), 0);
  // Nor is a second batch on the same Store allowed to nest.
  auto nested = holder->BeginBatch();
  EXPECT_EQ(nested->SetPosition("orders", 0, 2).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_TRUE(waiter->AppendLog(&records).ok());
  EXPECT_EQ(records[0].position, 1);
}

// `streamview ingest` appends to the log while `streamview run` commits batches: a separate
// process appends while this one commits, and neither fails.
TEST_P(StoreTest, LogAppenderProcessAndBatchCommitterShareTheFile) {
  if (memory()) GTEST_SKIP() << "a memory store lives in one process";
  const TableSpec table = OrdersTable("orders__v1");
  {
    auto setup = Open();
    ASSERT_NE(setup, nullptr);
    ASSERT_TRUE(setup->CreateTable(table).ok());
  }
  constexpr int kAppends = 200;
  constexpr int kPerAppend = 5;
  constexpr int kBatches = 200;
  constexpr int kRowsPerBatch = 50;

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = OpenStore(options_, StoreRole::kWriter);
    if (!store.ok()) _exit(2);
    for (int i = 0; i < kAppends; ++i) {
      std::vector<LogRecord> records;
      records.reserve(kPerAppend);
      for (int j = 0; j < kPerAppend; ++j) {
        records.push_back(Record("k" + std::to_string(j), "{\"i\":" + std::to_string(i) + "}"));
      }
      absl::StatusOr<int64_t> last = (*store)->AppendLog(&records);
      if (!last.ok()) {
        std::fprintf(stderr, "child append failed: %s\n", last.status().ToString().c_str());
        _exit(1);
      }
    }
    _exit(0);
  }

  auto store = Open();
  ASSERT_NE(store, nullptr);
  int failed_batches = 0;
  for (int b = 0; b < kBatches; ++b) {
    auto batch = store->BeginBatch();
    absl::Status status;
    for (int r = 0; r < kRowsPerBatch && status.ok(); ++r) {
      status = batch->Upsert(table, OrderRow("o" + std::to_string(r), b, b * 1.0));
    }
    if (status.ok()) status = batch->SetPosition("orders", 0, b + 1);
    if (status.ok()) status = batch->Commit();
    if (!status.ok()) {
      ++failed_batches;
      ADD_FAILURE() << status;
    }
    // The committer also reads the log as `run` would.
    std::vector<LogRecord> out;
    ASSERT_TRUE(store->ReadLog(0, 10'000, &out).ok());
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  EXPECT_EQ(failed_batches, 0);

  EXPECT_EQ(*store->LogEnd(), kAppends * kPerAppend);
  std::vector<LogRecord> out;
  ASSERT_TRUE(store->ReadLog(0, 100'000, &out).ok());
  ASSERT_EQ(out.size(), static_cast<size_t>(kAppends * kPerAppend));
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_EQ(out[i].position, static_cast<int64_t>(i + 1));
    ASSERT_EQ(out[i].raw, "{\"i\":" + std::to_string(i / kPerAppend) + "}");
  }
  EXPECT_THAT(*store->GetPositions("orders"), ElementsAre(Pair(0, kBatches)));
  EXPECT_EQ(**store->GetRow(table, {Value::Text("o7")}),
            OrderRow("o7", kBatches - 1, kBatches - 1));
}

TEST_P(StoreTest, ConcurrentAppendersGetDensePositions) {
  { ASSERT_NE(Open(), nullptr); }
  constexpr int kThreads = 3;
  constexpr int kAppends = 100;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto store = OpenStore(options_, StoreRole::kWriter);
      if (!store.ok()) {
        ++failures;
        return;
      }
      for (int i = 0; i < kAppends; ++i) {
        std::vector<LogRecord> records = {Record("t" + std::to_string(t), std::to_string(i)),
                                          Record("t" + std::to_string(t), std::to_string(i))};
        if (!(*store)->AppendLog(&records).ok() || records[1].position != records[0].position + 1) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto store = Open();
  std::vector<LogRecord> out;
  ASSERT_TRUE(store->ReadLog(0, 100'000, &out).ok());
  ASSERT_EQ(out.size(), static_cast<size_t>(kThreads * kAppends * 2));
  std::map<std::string, int> last_seen;
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_EQ(out[i].position, static_cast<int64_t>(i + 1));
    // Each appender's records appear in its own order, and a call's records are adjacent.
    if (i % 2 == 1) {
      ASSERT_EQ(out[i].key, out[i - 1].key);
    }
    const int n = std::stoi(out[i].raw);
    auto it = last_seen.find(out[i].key);
    if (it != last_seen.end()) {
      ASSERT_GE(n, it->second);
    }
    last_seen[out[i].key] = n;
  }
}

}  // namespace
}  // namespace sv::store

namespace sv::store {
namespace {

// Two engines writing one store would corrupt each other's positions. Every backend takes the
// lock when a store is opened for an engine, whoever opens it (the CLI, a test, a library):
// SQLite an flock on the database file (shared by one process's connections, so the second
// engine here is another process), PostgreSQL an advisory lock of the session, the memory store
// a flag of its in-process database.
TEST_P(StoreTest, OneEngineWriterPerStore) {
  int ready[2], release[2];
  pid_t holder = -1;
  std::unique_ptr<Store> first;
  if (sqlite()) {
    ASSERT_EQ(pipe(ready), 0);
    ASSERT_EQ(pipe(release), 0);
    holder = fork();
    ASSERT_GE(holder, 0);
    if (holder == 0) {
      // The other process: hold the engine lock until told to let go.
      absl::StatusOr<std::unique_ptr<Store>> held = OpenStore(options_, StoreRole::kEngine);
      const char ok = held.ok() ? 'y' : 'n';
      (void)!write(ready[1], &ok, 1);
      char c;
      (void)!read(release[0], &c, 1);
      _exit(0);
    }
    char ok = 0;
    ASSERT_EQ(read(ready[0], &ok, 1), 1);
    ASSERT_EQ(ok, 'y') << "the other process could not open the store as its engine";
  } else {
    first = OpenAs(StoreRole::kEngine);
    ASSERT_NE(first, nullptr);
  }
  StoreOptions no_wait = options_;
  no_wait.engine_lock_wait_ms = 0;  // a live first engine: waiting would only delay the refusal
  absl::StatusOr<std::unique_ptr<Store>> second = OpenStore(no_wait, StoreRole::kEngine);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("another streamview"));
  // Writers and readers that are not the engine work alongside.
  EXPECT_NE(OpenAs(StoreRole::kWriter), nullptr);
  EXPECT_NE(OpenAs(StoreRole::kReader), nullptr);
  if (holder > 0) {
    (void)!write(release[1], "x", 1);
    int status = 0;
    waitpid(holder, &status, 0);
  }
  first.reset();  // the lock goes with the session
  EXPECT_NE(OpenAs(StoreRole::kEngine), nullptr);
}

}  // namespace
}  // namespace sv::store

namespace sv::store {
namespace {

// Batches past the size where a backend changes strategy (PostgreSQL: COPY into a staging
// table) keep upsert semantics: existing rows are replaced, deletes and new rows apply.
TEST_P(StoreTest, LargeBatchesReplaceAndInsert) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const TableSpec table = OrdersTable("orders__v1");
  ASSERT_TRUE(store->CreateTable(table).ok());
  constexpr int kRows = 30'000;
  auto id = [](int i) { return "o" + std::to_string(i); };
  {
    auto batch = store->BeginBatch();
    for (int i = 0; i < kRows; i += 2)
      ASSERT_TRUE(batch->Upsert(table, OrderRow(id(i), i, 1)).ok());
    for (int i = 0; i < kRows; i += 3)
      ASSERT_TRUE(batch->PutKeyState("orders", {id(i), 1, 0}).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  {
    auto batch = store->BeginBatch();
    for (int i = 0; i < kRows; ++i) {
      ASSERT_TRUE(batch->Upsert(table, OrderRow(id(i), i, 2.5)).ok());
      ASSERT_TRUE(batch->PutKeyState("orders", {id(i), 2, 0}).ok());
    }
    ASSERT_TRUE(batch->Delete(table, {Value::Text(id(7))}).ok());
    ASSERT_TRUE(batch->SetPosition("orders", 0, kRows).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  auto other = Open();
  ASSERT_NE(other, nullptr);
  size_t n = 0;
  bool all_new = true;
  ASSERT_TRUE(other
                  ->ScanTable(table,
                              [&](const Row& r) {
                                ++n;
                                all_new = all_new && r[2] == Value::Real(2.5);
                              })
                  .ok());
  EXPECT_EQ(n, static_cast<size_t>(kRows - 1));
  EXPECT_TRUE(all_new);
  EXPECT_FALSE(other->GetRow(table, {Value::Text(id(7))})->has_value());
  EXPECT_EQ((*other->GetKeyState("orders", id(3)))->last_sequence, 2);
  EXPECT_EQ((*other->GetKeyState("orders", id(29'999)))->last_sequence, 2);
  EXPECT_THAT(*other->GetPositions("orders"), ElementsAre(Pair(0, kRows)));
}

}  // namespace
}  // namespace sv::store
