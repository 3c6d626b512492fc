// Batched reads on every backend: GetRows and GetKeyStates find exactly what the single reads
// find (PostgreSQL reads them in one statement per 1,000 keys), and the engine's read-through
// cache holds what a prefetch read, found or absent, until it is written. Expected results come
// from std::map oracles of what was written, never from the store.

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/value.h"
#include "engine/row_sets.h"
#include "gtest/gtest.h"
#include "store/store.h"
#include "store_backends.h"

namespace sv::store {
namespace {

class BatchedReadsTest : public BackendTest {};
SV_INSTANTIATE_STORE_BACKENDS_AND_MEMORY(BatchedReadsTest);

TableSpec ItemsTable() {
  TableSpec t;
  t.name = "items__v1";
  t.columns = {{"id", Type::kText}, {"qty", Type::kInt}, {"at", Type::kTime}};
  t.key = {0};
  return t;
}

// A composite key whose values may be NULL (a derived view's GROUP BY).
TableSpec GroupsTable() {
  TableSpec t;
  t.name = "groups__v1";
  t.columns = {{"org", Type::kText}, {"n", Type::kInt}, {"v", Type::kReal}};
  t.key = {0, 1};
  t.key_nullable = true;
  return t;
}

// Ids that a text parameter must carry as they are.
std::string Id(int i) {
  static const char* const kForms[] = {"o-", "o'", "ключ ", "a,b ", "{x} ", "\"q\" "};
  return absl::StrCat(kForms[i % 6], i);
}

std::string Line(const Row& row) {
  std::string out;
  for (size_t i = 0; i < row.size(); ++i) {
    absl::StrAppend(&out, i ? "|" : "", row[i].is_null() ? "NULL" : row[i].ToString());
  }
  return out;
}

std::set<std::string> Lines(const std::vector<Row>& rows) {
  std::set<std::string> out;
  for (const Row& r : rows) out.insert(Line(r));
  return out;
}

TEST_P(BatchedReadsTest, GetRowsFindsExactlyTheStoredRowsOfTheKeysAsked) {
  std::unique_ptr<Store> store = OpenAs(StoreRole::kWriter);
  ASSERT_NE(store, nullptr);
  const TableSpec items = ItemsTable();
  ASSERT_TRUE(store->CreateTable(items).ok());
  std::map<std::string, Row> oracle;
  {
    auto batch = store->BeginBatch();
    for (int i = 0; i < 1500; i += 1) {
      if (i % 4 == 3) continue;  // every fourth id is never written
      Row row{Value::Text(Id(i)), Value::Int(int64_t{i} * 7),
              Value::Time(int64_t{1'700'000'000'000'000} + i)};
      ASSERT_TRUE(batch->Upsert(items, row).ok());
      oracle[Id(i)] = row;
    }
    ASSERT_TRUE(batch->Commit().ok());
  }
  // More keys than one statement takes, in shuffled order, written and not.
  std::vector<int> ids(2100);
  for (int i = 0; i < 2100; ++i) ids[i] = i;
  std::shuffle(ids.begin(), ids.end(), std::mt19937(7));
  std::vector<Row> keys;
  std::vector<Row> expected;
  for (int i : ids) {
    keys.push_back({Value::Text(Id(i))});
    if (auto it = oracle.find(Id(i)); it != oracle.end()) expected.push_back(it->second);
  }
  absl::StatusOr<std::vector<Row>> found = store->GetRows(items, keys);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->size(), expected.size());
  EXPECT_EQ(Lines(*found), Lines(expected));
  absl::StatusOr<std::vector<Row>> none = store->GetRows(items, {});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  // A key of the wrong width is refused as by GetRow.
  absl::StatusOr<std::vector<Row>> wrong =
      store->GetRows(items, {{Value::Text(Id(0)), Value::Int(1)}});
  EXPECT_FALSE(wrong.ok());
}

TEST_P(BatchedReadsTest, GetRowsMatchesCompositeKeysWithNulls) {
  std::unique_ptr<Store> store = OpenAs(StoreRole::kWriter);
  ASSERT_NE(store, nullptr);
  const TableSpec groups = GroupsTable();
  ASSERT_TRUE(store->CreateTable(groups).ok());
  auto org = [](int i) {
    return i % 5 == 0 ? Value::Null() : Value::Text(absl::StrCat("org", i % 3));
  };
  auto n = [](int i) { return i % 7 == 0 ? Value::Null() : Value::Int(i); };
  std::map<std::string, Row> oracle;
  {
    auto batch = store->BeginBatch();
    for (int i = 0; i < 60; i += 2) {  // odd i never written
      Row row{org(i), n(i), Value::Real(i / 4.0)};
      ASSERT_TRUE(batch->Upsert(groups, row).ok());
      oracle[Line({org(i), n(i)})] = row;
    }
    ASSERT_TRUE(batch->Commit().ok());
  }
  std::vector<Row> keys;
  std::vector<Row> expected;
  for (int i = 0; i < 60; ++i) {
    keys.push_back({org(i), n(i)});
    if (auto it = oracle.find(Line({org(i), n(i)})); it != oracle.end()) {
      expected.push_back(it->second);
      oracle.erase(it);  // a key asked twice (org and n repeat) is expected once
    }
  }
  std::set<std::string> asked;
  std::vector<Row> distinct;
  for (Row& k : keys) {
    if (asked.insert(Line(k)).second) distinct.push_back(std::move(k));
  }
  absl::StatusOr<std::vector<Row>> found = store->GetRows(groups, distinct);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->size(), expected.size());
  EXPECT_EQ(Lines(*found), Lines(expected));
}

TEST_P(BatchedReadsTest, GetKeyStatesFindsExactlyTheStoredStatesOfTheSource) {
  std::unique_ptr<Store> store = OpenAs(StoreRole::kWriter);
  ASSERT_NE(store, nullptr);
  std::map<std::string, std::pair<int64_t, int64_t>> oracle;
  {
    auto batch = store->BeginBatch();
    for (int i = 0; i < 1200; ++i) {
      if (i % 3 == 1) continue;
      KeyState s{Id(i), i + 1, i % 10 == 0 ? i + 100 : 0};
      ASSERT_TRUE(batch->PutKeyState("orders", s).ok());
      oracle[Id(i)] = {s.last_sequence, s.parked_on};
    }
    // Another source's states of the same keys are not this source's.
    ASSERT_TRUE(batch->PutKeyState("other", KeyState{Id(1), 99, 0}).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  std::vector<std::string> keys;
  for (int i = 1499; i >= 0; --i) keys.push_back(Id(i));
  absl::StatusOr<std::vector<KeyState>> found = store->GetKeyStates("orders", keys);
  ASSERT_TRUE(found.ok()) << found.status();
  std::map<std::string, std::pair<int64_t, int64_t>> got;
  for (const KeyState& s : *found) got[s.key] = {s.last_sequence, s.parked_on};
  EXPECT_EQ(found->size(), oracle.size());
  EXPECT_EQ(got, oracle);
}

// The cache reads prefetched keys once: what the store holds afterwards (changed behind the
// cache here) is not read again, found rows and absences alike, until the cache writes them.
TEST_P(BatchedReadsTest, TheCacheHoldsWhatAPrefetchFoundAndWhatItDidNot) {
  std::unique_ptr<Store> store = OpenAs(StoreRole::kWriter);
  ASSERT_NE(store, nullptr);
  const TableSpec items = ItemsTable();
  ASSERT_TRUE(store->CreateTable(items).ok());
  auto row_of = [](int i, int64_t qty) {
    return Row{Value::Text(Id(i)), Value::Int(qty), Value::Time(1'000 + i)};
  };
  {
    auto batch = store->BeginBatch();
    for (int i = 0; i < 20; i += 2) ASSERT_TRUE(batch->Upsert(items, row_of(i, i)).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  engine::CachedRowSet rows(store.get(), {items}, 1000);
  std::vector<std::pair<std::string, Row>> keys;
  for (int i = 0; i < 20; ++i) {
    Row key{Value::Text(Id(i))};
    std::string encoded;
    EncodeKey(key.data(), key.size(), &encoded);
    keys.emplace_back(encoded, key);
  }
  ASSERT_TRUE(rows.Prefetch(0, keys).ok());
  // Behind the cache: every row written is changed, every absent one written.
  {
    auto batch = store->BeginBatch();
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(batch->Upsert(items, row_of(i, 1000 + i)).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<const Row*> row = rows.Find(0, keys[i].first, keys[i].second);
    ASSERT_TRUE(row.ok()) << row.status();
    if (i % 2 == 1) {
      EXPECT_EQ(*row, nullptr) << Id(i) << " was absent when prefetched";
    } else {
      ASSERT_NE(*row, nullptr) << Id(i);
      EXPECT_EQ(Line(**row), Line(row_of(i, i)));
    }
  }
  // A key not prefetched is read when met.
  Row later{Value::Text("later")};
  std::string encoded;
  EncodeKey(later.data(), later.size(), &encoded);
  {
    auto batch = store->BeginBatch();
    ASSERT_TRUE(batch->Upsert(items, {later[0], Value::Int(5), Value::Time(9)}).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  absl::StatusOr<const Row*> row = rows.Find(0, encoded, later);
  ASSERT_TRUE(row.ok()) << row.status();
  ASSERT_NE(*row, nullptr);
  EXPECT_EQ((**row)[1].as_int(), 5);
}

// A real-valued key: SQL equality is not the encoding's (0.0 = -0.0), so a prefetch holds the
// rows it found but proves no absence: a key not found is read again when met.
TEST_P(BatchedReadsTest, APrefetchProvesNoAbsenceForARealKey) {
  std::unique_ptr<Store> store = OpenAs(StoreRole::kWriter);
  ASSERT_NE(store, nullptr);
  TableSpec prices;
  prices.name = "prices__v1";
  prices.columns = {{"price", Type::kReal}, {"n", Type::kInt}};
  prices.key = {0};
  ASSERT_TRUE(store->CreateTable(prices).ok());
  {
    auto batch = store->BeginBatch();
    ASSERT_TRUE(batch->Upsert(prices, {Value::Real(0.5), Value::Int(1)}).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  engine::CachedRowSet rows(store.get(), {prices}, 1000);
  std::vector<std::pair<std::string, Row>> keys;
  for (double price : {0.5, 1.5}) {
    Row key{Value::Real(price)};
    std::string encoded;
    EncodeKey(key.data(), key.size(), &encoded);
    keys.emplace_back(encoded, key);
  }
  ASSERT_TRUE(rows.Prefetch(0, keys).ok());
  {
    auto batch = store->BeginBatch();
    ASSERT_TRUE(batch->Upsert(prices, {Value::Real(0.5), Value::Int(2)}).ok());
    ASSERT_TRUE(batch->Upsert(prices, {Value::Real(1.5), Value::Int(3)}).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  absl::StatusOr<const Row*> found = rows.Find(0, keys[0].first, keys[0].second);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_NE(*found, nullptr);
  EXPECT_EQ((**found)[1].as_int(), 1) << "held as prefetched";
  absl::StatusOr<const Row*> absent = rows.Find(0, keys[1].first, keys[1].second);
  ASSERT_TRUE(absent.ok()) << absent.status();
  ASSERT_NE(*absent, nullptr) << "not held as absent: read when met";
  EXPECT_EQ((**absent)[1].as_int(), 3);
}

}  // namespace
}  // namespace sv::store
