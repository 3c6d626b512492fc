// Tables whose key values may be NULL (TableSpec::key_nullable: a derived view's GROUP BY), on
// every backend: NULL is one key value (written, replaced, read, deleted like any), sorts first
// in scans and pages, and a keyset page may stop on it. Expected rows come from a std::map
// oracle (std::nullopt sorts first, as NULL does), never from the store.

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/value.h"
#include "gtest/gtest.h"
#include "store/store.h"
#include "store_backends.h"

namespace sv::store {
namespace {

TableSpec GroupsTable(std::string name) {
  TableSpec t;
  t.name = std::move(name);
  t.columns = {{"org", Type::kText}, {"n", Type::kInt}, {"v", Type::kInt}};
  t.key = {0, 1};
  t.key_nullable = true;
  t.indexes = {{{"v"}}};
  return t;
}

using Key = std::pair<std::optional<std::string>, std::optional<int64_t>>;

Value Org(const Key& k) { return k.first ? Value::Text(*k.first) : Value::Null(); }
Value N(const Key& k) { return k.second ? Value::Int(*k.second) : Value::Null(); }

std::string Line(const Row& row) {
  std::string out;
  for (size_t i = 0; i < row.size(); ++i) {
    absl::StrAppend(&out, i ? "|" : "", row[i].is_null() ? "NULL" : row[i].ToString());
  }
  return out;
}

class StoreNullKeyTest : public BackendTest {};
SV_INSTANTIATE_STORE_BACKENDS_AND_MEMORY(StoreNullKeyTest);

TEST_P(StoreNullKeyTest, NullIsOneKeyValue) {
  std::unique_ptr<Store> store = OpenAs(StoreRole::kWriter);
  ASSERT_NE(store, nullptr);
  const TableSpec table = GroupsTable("groups__v1");
  ASSERT_TRUE(store->CreateTable(table).ok());
  std::map<Key, int64_t> oracle;
  auto row_of = [](const Key& k, int64_t v) { return Row{Org(k), N(k), Value::Int(v)}; };
  auto expected_lines = [&] {
    std::vector<std::string> out;
    for (const auto& [k, v] : oracle) out.push_back(Line(row_of(k, v)));
    return out;
  };
  auto scanned = [&] {
    std::vector<std::string> out;
    EXPECT_TRUE(store->ScanTable(table, [&](const Row& r) { out.push_back(Line(r)); }).ok());
    return out;
  };

  // Many rows in one UpsertRows (several per statement where the backend can), a few with
  // NULL in one key column or both.
  std::vector<Row> rows;
  for (int i = 0; i < 400; ++i) {
    Key k{i % 7 == 0 ? std::nullopt : std::optional<std::string>(absl::StrCat("o", i % 13)),
          i % 11 == 0 ? std::nullopt : std::optional<int64_t>(i)};
    if (oracle.count(k) != 0) continue;  // distinct keys, as UpsertRows wants
    oracle[k] = i % 5;
    rows.push_back(row_of(k, i % 5));
  }
  ASSERT_GT(oracle.count({std::nullopt, std::nullopt}), 0u);
  {
    std::vector<const Row*> pointers;
    for (const Row& r : rows) pointers.push_back(&r);
    auto batch = store->BeginBatch();
    ASSERT_TRUE(batch->UpsertRows(table, pointers).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  EXPECT_EQ(scanned(), expected_lines()) << "key order, NULL first";

  // Replace and delete rows with NULL keys (and read them back by key).
  const Key both_null{std::nullopt, std::nullopt};
  const Key org_null{std::nullopt, 1};
  const Key n_null{"o1", std::nullopt};
  {
    auto batch = store->BeginBatch();
    for (const Key& k : {both_null, org_null, n_null}) {
      oracle[k] = 100;
      ASSERT_TRUE(batch->Upsert(table, row_of(k, 100)).ok());
    }
    ASSERT_TRUE(batch->Commit().ok());
  }
  for (const Key& k : {both_null, org_null, n_null}) {
    auto got = store->GetRow(table, {Org(k), N(k)});
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ(Line(**got), Line(row_of(k, 100)));
  }
  {
    auto batch = store->BeginBatch();
    ASSERT_TRUE(batch->Delete(table, {Value::Null(), Value::Null()}).ok());
    ASSERT_TRUE(batch->Delete(table, {Value::Text("o1"), Value::Null()}).ok());
    ASSERT_TRUE(batch->Delete(table, {Value::Text("o1"), Value::Int(1000)}).ok());  // absent
    ASSERT_TRUE(batch->Commit().ok());
  }
  oracle.erase(both_null);
  oracle.erase(n_null);
  auto gone = store->GetRow(table, {Value::Null(), Value::Null()});
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_FALSE(gone->has_value());
  EXPECT_EQ(scanned(), expected_lines());

  // Keyset pages of 7 rows up and down the key, then along the indexed v column.
  std::vector<std::pair<std::optional<int64_t>, Key>> by_v;  // (v, key)
  for (const auto& [k, v] : oracle) by_v.push_back({v, k});
  std::sort(by_v.begin(), by_v.end());
  for (bool sorted : {false, true}) {
    for (bool descending : {false, true}) {
      ViewQuery q;
      q.limit = 7;
      q.descending = descending;
      if (sorted) q.sort = 2;
      std::vector<std::string> walked;
      for (int guard = 0; guard < 200; ++guard) {
        auto page = store->QueryView(table, q);
        ASSERT_TRUE(page.ok()) << page.status();
        for (const Row& r : *page) walked.push_back(Line(r));
        if (page->size() < 7) break;
        const Row& last = page->back();
        q.after = sorted ? Row{last[2], last[0], last[1]} : Row{last[0], last[1]};
      }
      std::vector<std::string> want;
      if (sorted) {
        for (const auto& [v, k] : by_v) want.push_back(Line(row_of(k, *v)));
      } else {
        want = expected_lines();
      }
      if (descending) std::reverse(want.begin(), want.end());
      EXPECT_EQ(walked, want) << "sorted " << sorted << " descending " << descending;
    }
  }

  // A rebuild's bulk load into a fresh table of the same kind.
  const TableSpec fresh = GroupsTable("groups__v2");
  ASSERT_TRUE(store->CreateTable(fresh).ok());
  std::vector<Row> sorted_rows;
  for (const auto& [k, v] : oracle) sorted_rows.push_back(row_of(k, v));
  size_t next = 0;
  ASSERT_TRUE(store
                  ->BulkInsert(fresh,
                               [&]() -> const Row* {
                                 return next < sorted_rows.size() ? &sorted_rows[next++] : nullptr;
                               })
                  .ok());
  {
    auto batch = store->BeginBatch();
    oracle[org_null] = 7;
    ASSERT_TRUE(batch->Upsert(fresh, row_of(org_null, 7)).ok()) << "the key is unique again";
    ASSERT_TRUE(batch->Commit().ok());
  }
  std::vector<std::string> fresh_rows;
  ASSERT_TRUE(store->ScanTable(fresh, [&](const Row& r) { fresh_rows.push_back(Line(r)); }).ok());
  EXPECT_EQ(fresh_rows, expected_lines());
}

}  // namespace
}  // namespace sv::store
