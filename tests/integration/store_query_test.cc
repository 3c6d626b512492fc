// Store::QueryView (filters, total order, keyset pages), AllPositions and read-only stores,
// against every backend (SQLite files, PostgreSQL schemas: see store_backends.h). Expected pages
// come from an in-memory oracle over the rows the test generated, never from the store.

#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "common/value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/sqlite/sqlite_query.h"
#include "store/sqlite/sqlite_util.h"
#include "store/store.h"
#include "store_backends.h"

namespace sv::store {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// ---- The table under test: a composite key (text, int) and nullable columns of each type.

constexpr int kGrp = 0;     // key 1, text
constexpr int kN = 1;       // key 2, int
constexpr int kScore = 2;   // int, nullable, indexed, many ties
constexpr int kOrder = 3;   // text (an SQL keyword as its name), nullable, indexed
constexpr int kAmount = 4;  // real, nullable, not indexed
constexpr int kAt = 5;      // time, nullable, indexed descending

TableSpec ItemsTable(std::string name) {
  TableSpec t;
  t.name = std::move(name);
  t.columns = {{"grp", Type::kText},   {"n", Type::kInt},       {"score", Type::kInt},
               {"order", Type::kText}, {"amount", Type::kReal}, {"at", Type::kTime}};
  t.key = {kGrp, kN};
  t.indexes = {{{"score"}}, {{"order"}}, {{"-at"}}};
  return t;
}

// A single-column integer key, for the plain case.
TableSpec PlainTable(std::string name) {
  TableSpec t;
  t.name = std::move(name);
  t.columns = {{"id", Type::kInt}, {"v", Type::kInt}};
  t.key = {0};
  t.indexes = {{{"v"}}};
  return t;
}

const char* const kGroups[] = {"a", "b", "d'q", "' OR 1=1 --"};
// The last ones carry what a LIKE pattern would read as wildcards or escapes, and mixed case.
const char* const kWords[] = {"apple",   "banana",      "cherry",      "", "Zed", "a\"b",
                              "50%_Off", "back\\slash", "Banana Split"};

class RowGen {
 public:
  explicit RowGen(uint32_t seed) : rng_(seed) {}
  int Uniform(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  Value Score() { return Uniform(4) == 0 ? Value::Null() : Value::Int(Uniform(12)); }
  Value Word() {
    return Uniform(5) == 0 ? Value::Null()
                           : Value::Text(kWords[Uniform(static_cast<int>(std::size(kWords)))]);
  }
  Value Amount() {
    return Uniform(6) == 0 ? Value::Null() : Value::Real((Uniform(10001) - 5000) / 100.0);
  }
  Value At() {
    return Uniform(5) == 0 ? Value::Null()
                           : Value::Time(1'700'000'000'000'000 + Uniform(50) * 1'000'000LL);
  }
  // A row with a key not in `used`.
  Row NewRow(std::set<std::pair<std::string, int64_t>>* used) {
    for (;;) {
      std::string grp = kGroups[Uniform(4)];
      const int64_t n = Uniform(400) - 20;
      if (!used->emplace(grp, n).second) continue;
      return {Value::Text(std::move(grp)), Value::Int(n), Score(), Word(), Amount(), At()};
    }
  }

 private:
  std::mt19937 rng_;
};

// ---- The oracle

// NULL is the least value (the store's contract for ordering).
int CompareNullsFirst(const Value& a, const Value& b) {
  if (a.is_null() || b.is_null()) return a.is_null() == b.is_null() ? 0 : (a.is_null() ? -1 : 1);
  bool ok = false;
  const int c = Compare(a, b, &ok);
  EXPECT_TRUE(ok) << a.ToString() << " vs " << b.ToString();
  return c;
}

// The boundary tuple of a row: [sort value,] key values.
Row Boundary(const TableSpec& t, std::optional<int> sort, const Row& row) {
  Row out;
  if (sort) out.push_back(row[*sort]);
  for (int k : t.key) out.push_back(row[k]);
  return out;
}

// <0 when tuple a comes before b in the query order.
int CompareTuples(const Row& a, const Row& b, bool descending) {
  for (size_t i = 0; i < a.size(); ++i) {
    const int c = CompareNullsFirst(a[i], b[i]);
    if (c != 0) return descending ? -c : c;
  }
  return 0;
}

// SQL semantics: a NULL on either side never matches.
bool Matches(const Row& row, const Filter& f) {
  const Value& v = row[f.column];
  if (v.is_null()) return false;
  auto cmp = [&](const Value& x, int* out) {
    if (x.is_null()) return false;
    *out = CompareNullsFirst(v, x);
    return true;
  };
  int c = 0;
  switch (f.op) {
    case FilterOp::kIn:
      for (const Value& x : f.values) {
        if (cmp(x, &c) && c == 0) return true;
      }
      return false;
    case FilterOp::kEq:
      return cmp(f.values[0], &c) && c == 0;
    case FilterOp::kGt:
      return cmp(f.values[0], &c) && c > 0;
    case FilterOp::kGte:
      return cmp(f.values[0], &c) && c >= 0;
    case FilterOp::kLt:
      return cmp(f.values[0], &c) && c < 0;
    case FilterOp::kLte:
      return cmp(f.values[0], &c) && c <= 0;
    case FilterOp::kPrefix:
    case FilterOp::kContains: {
      // ASCII case-insensitive, every character literal.
      const std::string text = absl::AsciiStrToLower(v.as_text());
      const std::string want = absl::AsciiStrToLower(f.values[0].as_text());
      return f.op == FilterOp::kPrefix ? text.rfind(want, 0) == 0
                                       : text.find(want) != std::string::npos;
    }
  }
  return false;
}

// The whole filtered set in the query order (paging fields ignored).
std::vector<Row> OracleAll(const TableSpec& t, const std::vector<Row>& rows, const ViewQuery& q) {
  std::vector<Row> out = rows;
  auto keep = std::stable_partition(out.begin(), out.end(), [&](const Row& r) {
    return std::all_of(q.filters.begin(), q.filters.end(),
                       [&](const Filter& f) { return Matches(r, f); });
  });
  out.erase(keep, out.end());
  std::sort(out.begin(), out.end(), [&](const Row& a, const Row& b) {
    return CompareTuples(Boundary(t, q.sort, a), Boundary(t, q.sort, b), q.descending) < 0;
  });
  return out;
}

// One page, as the contract defines it.
std::vector<Row> OraclePage(const TableSpec& t, const std::vector<Row>& rows, const ViewQuery& q) {
  std::vector<Row> all = OracleAll(t, rows, q);
  std::vector<Row> candidates;
  for (const Row& r : all) {
    if (q.after) {
      const int c = CompareTuples(Boundary(t, q.sort, r), *q.after, q.descending);
      if (q.backward ? c >= 0 : c <= 0) continue;
    }
    candidates.push_back(r);
  }
  if (q.backward) std::reverse(candidates.begin(), candidates.end());
  std::vector<Row> page;
  for (size_t i = static_cast<size_t>(q.offset);
       i < candidates.size() && page.size() < static_cast<size_t>(q.limit); ++i) {
    page.push_back(candidates[i]);
  }
  if (q.backward) std::reverse(page.begin(), page.end());
  return page;
}

std::string Describe(const ViewQuery& q) {
  std::string s = "sort=" + (q.sort ? std::to_string(*q.sort) : std::string("key"));
  s += q.descending ? " desc" : " asc";
  s += " filters=" + std::to_string(q.filters.size());
  s += " limit=" + std::to_string(q.limit) + " offset=" + std::to_string(q.offset);
  if (q.after) {
    s += q.backward ? " before(" : " after(";
    for (const Value& v : *q.after) s += v.ToString() + (v.is_null() ? "<null>," : ",");
    s += ")";
  }
  return s;
}

std::string Dump(const std::vector<Row>& rows) {
  std::string s;
  for (const Row& r : rows) {
    s += "  (";
    for (const Value& v : r) s += (v.is_null() ? std::string("NULL") : v.ToString()) + ", ";
    s += ")\n";
  }
  return s;
}

// The view name queried (the stable name) and the physical table name.
TableSpec AsView(TableSpec t, const std::string& view) {
  t.name = view;
  return t;
}

// ---- Fixture

class StoreQueryTest : public BackendTest {
 protected:
  std::unique_ptr<Store> Open(bool read_only = false) {
    return OpenAs(read_only ? StoreRole::kReader : StoreRole::kWriter);
  }

  // Creates `table`, fills it with `rows` and points `view` at it.
  void Load(Store& store, const TableSpec& table, const std::vector<Row>& rows,
            const std::string& view) {
    ASSERT_TRUE(store.CreateTable(table).ok());
    std::unique_ptr<Batch> batch = store.BeginBatch();
    for (const Row& r : rows) ASSERT_TRUE(batch->Upsert(table, r).ok());
    ASSERT_TRUE(batch->ActivateVersion(view, 1, table.name).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }

  // Loads `rows` as version 1 (table items__v1) of view "items"; the spec that queries the view.
  TableSpec LoadItems(Store& store, const std::vector<Row>& rows) {
    Load(store, ItemsTable("items__v1"), rows, "items");
    return AsView(ItemsTable("items__v1"), "items");
  }
};

SV_INSTANTIATE_STORE_BACKENDS_AND_MEMORY(StoreQueryTest);

std::vector<Row> Query(Store& store, const TableSpec& t, const ViewQuery& q) {
  absl::StatusOr<std::vector<Row>> rows = store.QueryView(t, q);
  EXPECT_TRUE(rows.ok()) << rows.status() << " for " << Describe(q);
  return rows.ok() ? *rows : std::vector<Row>();
}

#define EXPECT_PAGE(store, spec, rows, q)                     \
  do {                                                        \
    const std::vector<Row> want_ = OraclePage(spec, rows, q); \
    const std::vector<Row> got_ = Query(store, spec, q);      \
    EXPECT_TRUE(got_ == want_) << Describe(q) << "\nwant:\n"  \
                               << Dump(want_) << "got:\n"     \
                               << Dump(got_);                 \
  } while (0)

Filter F(int column, FilterOp op, std::vector<Value> values) {
  Filter f;
  f.column = column;
  f.op = op;
  f.values = std::move(values);
  return f;
}

std::vector<Row> Generate(uint32_t seed, int count) {
  RowGen gen(seed);
  std::set<std::pair<std::string, int64_t>> used;
  std::vector<Row> rows;
  for (int i = 0; i < count; ++i) rows.push_back(gen.NewRow(&used));
  return rows;
}

// ---- Filters and orders

TEST_P(StoreQueryTest, EveryFilterOpMatchesTheOracle) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const std::vector<Row> rows = Generate(1, 300);
  const TableSpec view = LoadItems(*store, rows);

  const std::vector<std::pair<int, Value>> probes = {
      {kGrp, Value::Text("b")},    {kGrp, Value::Text("d'q")},
      {kN, Value::Int(100)},       {kScore, Value::Int(5)},
      {kScore, Value::Int(0)},     {kOrder, Value::Text("banana")},
      {kOrder, Value::Text("")},   {kAmount, Value::Real(0.5)},
      {kAmount, Value::Real(-10)}, {kAt, Value::Time(1'700'000'000'000'000 + 20 * 1'000'000LL)},
  };
  int nonempty = 0;
  for (const auto& [col, value] : probes) {
    for (FilterOp op : {FilterOp::kEq, FilterOp::kGt, FilterOp::kGte, FilterOp::kLt, FilterOp::kLte,
                        FilterOp::kIn}) {
      ViewQuery q;
      q.limit = 1000;
      q.filters = {F(col, op, {value})};
      nonempty += !OraclePage(view, rows, q).empty();
      EXPECT_PAGE(*store, view, rows, q);
    }
  }
  EXPECT_GT(nonempty, 40);  // the probes exercise real matches, not just empty sets

  // IN with several values, duplicates and a NULL (which matches nothing); empty IN.
  ViewQuery q;
  q.limit = 1000;
  q.filters = {F(kScore, FilterOp::kIn,
                 {Value::Int(1), Value::Null(), Value::Int(7), Value::Int(1), Value::Int(99)})};
  EXPECT_PAGE(*store, view, rows, q);
  q.filters = {F(kOrder, FilterOp::kIn, {Value::Text("apple"), Value::Text("a\"b")})};
  EXPECT_PAGE(*store, view, rows, q);
  q.filters = {F(kOrder, FilterOp::kIn, {})};
  EXPECT_TRUE(Query(*store, view, q).empty());
  // Eq NULL is SQL '=': it matches nothing, not the NULL rows.
  q.filters = {F(kScore, FilterOp::kEq, {Value::Null()})};
  EXPECT_TRUE(Query(*store, view, q).empty());

  // Several filters are ANDed.
  q.filters = {F(kScore, FilterOp::kGte, {Value::Int(3)}),
               F(kScore, FilterOp::kLt, {Value::Int(9)}),
               F(kGrp, FilterOp::kIn, {Value::Text("a"), Value::Text("d'q")}),
               F(kAmount, FilterOp::kGt, {Value::Real(-20)})};
  EXPECT_FALSE(OraclePage(view, rows, q).empty());
  EXPECT_PAGE(*store, view, rows, q);
}

// Autocomplete-style search: prefix and contains, case-insensitive, with the searched text's
// own '%', '_' and '\\' taken literally (not as LIKE wildcards), on every backend alike.
TEST_P(StoreQueryTest, TextSearchMatchesTheOracle) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const std::vector<Row> rows = Generate(5, 300);
  const TableSpec view = LoadItems(*store, rows);
  int nonempty = 0;
  for (const char* probe : {"ban", "BAN", "an", "nA s", "", "50%", "%", "_", "0%_o", "k\\s", "\\",
                            "a\"", "zz", "' or"}) {
    for (FilterOp op : {FilterOp::kPrefix, FilterOp::kContains}) {
      for (int col : {kOrder, kGrp}) {
        ViewQuery q;
        q.limit = 1000;
        q.filters = {F(col, op, {Value::Text(probe)})};
        nonempty += !OraclePage(view, rows, q).empty();
        EXPECT_PAGE(*store, view, rows, q);
      }
    }
  }
  EXPECT_GT(nonempty, 20);
  // With a sort and a cursor-style boundary like any other filter.
  ViewQuery q;
  q.limit = 7;
  q.sort = kScore;
  q.descending = true;
  q.filters = {F(kOrder, FilterOp::kContains, {Value::Text("A")})};
  EXPECT_PAGE(*store, view, rows, q);
}

TEST_P(StoreQueryTest, InjectionLookingValuesMatchNothing) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const std::vector<Row> rows = Generate(2, 100);
  const TableSpec view = LoadItems(*store, rows);
  for (const char* evil : {"' OR 1=1 --", "x' OR '1'='1", "\" OR 1=1 --", "1); DROP TABLE x; --"}) {
    for (int col : {kOrder, kAmount, kScore}) {
      ViewQuery q;
      q.limit = 1000;
      q.filters = {F(col, FilterOp::kEq, {Value::Text(evil)})};
      EXPECT_TRUE(Query(*store, view, q).empty()) << evil;
      q.filters = {F(col, FilterOp::kIn, {Value::Text(evil), Value::Text("nope")})};
      EXPECT_TRUE(Query(*store, view, q).empty()) << evil;
    }
  }
  // A key value that looks like SQL is just a value: exactly its rows match.
  ViewQuery q;
  q.limit = 1000;
  q.filters = {F(kGrp, FilterOp::kEq, {Value::Text("' OR 1=1 --")})};
  const std::vector<Row> want = OraclePage(view, rows, q);
  EXPECT_FALSE(want.empty());
  EXPECT_LT(want.size(), rows.size());
  EXPECT_EQ(Query(*store, view, q), want);
  // The table is still all there.
  ViewQuery all;
  all.limit = 1000;
  EXPECT_EQ(Query(*store, view, all).size(), rows.size());
}

TEST_P(StoreQueryTest, SortOrdersMatchTheOracle) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const std::vector<Row> rows = Generate(3, 250);
  Load(*store, ItemsTable("items__v1"), rows, "items");
  for (const TableSpec& spec :
       {AsView(ItemsTable("items__v1"), "items"), ItemsTable("items__v1")}) {
    for (std::optional<int> sort :
         std::vector<std::optional<int>>{std::nullopt, kScore, kOrder, kAmount, kAt, kGrp, kN}) {
      for (bool desc : {false, true}) {
        ViewQuery q;
        q.sort = sort;
        q.descending = desc;
        q.limit = 1000;
        EXPECT_PAGE(*store, spec, rows, q);
        q.limit = 10;
        EXPECT_PAGE(*store, spec, rows, q);
        q.filters = {F(kScore, FilterOp::kGte, {Value::Int(4)})};
        EXPECT_PAGE(*store, spec, rows, q);
      }
    }
  }
  // NULLs first ascending, last descending.
  const TableSpec view = AsView(ItemsTable("items__v1"), "items");
  ViewQuery q;
  q.sort = kScore;
  q.limit = 1000;
  std::vector<Row> asc = Query(*store, view, q);
  ASSERT_FALSE(asc.empty());
  EXPECT_TRUE(asc.front()[kScore].is_null());
  EXPECT_FALSE(asc.back()[kScore].is_null());
  q.descending = true;
  std::vector<Row> desc = Query(*store, view, q);
  EXPECT_TRUE(desc.back()[kScore].is_null());
  EXPECT_FALSE(desc.front()[kScore].is_null());
}

TEST_P(StoreQueryTest, LimitAndOffset) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const std::vector<Row> rows = Generate(4, 120);
  const TableSpec view = LoadItems(*store, rows);
  for (bool desc : {false, true}) {
    for (int64_t limit : {0, 1, 9, 50, 500}) {
      for (int64_t offset : {0, 1, 17, 119, 120, 400}) {
        ViewQuery q;
        q.sort = kScore;
        q.descending = desc;
        q.limit = limit;
        q.offset = offset;
        EXPECT_PAGE(*store, view, rows, q);
      }
    }
  }
  // Page-number pages tile the ordered set.
  ViewQuery q;
  q.sort = kOrder;
  q.limit = 13;
  std::vector<Row> tiled;
  for (q.offset = 0; q.offset < 200; q.offset += q.limit) {
    for (Row& r : Query(*store, view, q)) tiled.push_back(std::move(r));
  }
  ViewQuery whole = q;
  whole.offset = 0;
  whole.limit = 1000;
  EXPECT_EQ(tiled, OracleAll(view, rows, whole));
}

TEST_P(StoreQueryTest, InvalidQueriesAreRejected) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Load(*store, ItemsTable("items__v1"), Generate(5, 10), "items");
  const TableSpec view = AsView(ItemsTable("items__v1"), "items");
  auto code = [&](const ViewQuery& q) { return store->QueryView(view, q).status().code(); };
  ViewQuery q;
  q.filters = {F(42, FilterOp::kEq, {Value::Int(1)})};
  EXPECT_EQ(code(q), absl::StatusCode::kInvalidArgument);
  q.filters = {F(kScore, FilterOp::kGt, {Value::Int(1), Value::Int(2)})};
  EXPECT_EQ(code(q), absl::StatusCode::kInvalidArgument);
  q = ViewQuery();
  q.sort = -1;
  EXPECT_EQ(code(q), absl::StatusCode::kInvalidArgument);
  q = ViewQuery();
  q.sort = kScore;
  q.after = Row{Value::Text("a"), Value::Int(1)};  // missing the sort value
  EXPECT_EQ(code(q), absl::StatusCode::kInvalidArgument);
  q.after = Row{Value::Int(1), Value::Null(), Value::Int(1)};  // keys are never NULL
  EXPECT_EQ(code(q), absl::StatusCode::kInvalidArgument);
  q = ViewQuery();
  q.limit = -1;
  EXPECT_EQ(code(q), absl::StatusCode::kInvalidArgument);
  // A missing table is an error, not an empty page.
  EXPECT_FALSE(store->QueryView(AsView(view, "nope"), ViewQuery()).ok());
}

// ---- Keyset pages

std::vector<std::vector<Row>> WalkForward(Store& store, const TableSpec& t, ViewQuery q) {
  std::vector<std::vector<Row>> pages;
  q.after.reset();
  q.backward = false;
  for (int guard = 0; guard < 10'000; ++guard) {
    std::vector<Row> page = Query(store, t, q);
    if (page.empty()) break;
    q.after = Boundary(t, q.sort, page.back());
    const bool short_page = page.size() < static_cast<size_t>(q.limit);
    pages.push_back(std::move(page));
    if (short_page) break;
  }
  return pages;
}

void CheckWalks(Store& store, const TableSpec& t, const std::vector<Row>& rows,
                const std::vector<std::optional<int>>& sorts) {
  const std::vector<std::vector<Filter>> filter_sets = {
      {},
      {F(kScore, FilterOp::kGte, {Value::Int(5)})},
      {F(kOrder, FilterOp::kIn, {Value::Text("apple"), Value::Text(""), Value::Text("Zed")})},
      {F(kGrp, FilterOp::kEq, {Value::Text("d'q")})},
  };
  for (std::optional<int> sort : sorts) {
    for (bool desc : {false, true}) {
      for (const std::vector<Filter>& filters : filter_sets) {
        for (int64_t limit : {1, 7, 50}) {
          ViewQuery q;
          q.sort = sort;
          q.descending = desc;
          q.filters = filters;
          q.limit = limit;
          SCOPED_TRACE(Describe(q));
          const std::vector<Row> want = OracleAll(t, rows, q);
          const std::vector<std::vector<Row>> pages = WalkForward(store, t, q);
          std::vector<Row> got;
          for (const auto& page : pages) got.insert(got.end(), page.begin(), page.end());
          ASSERT_EQ(got, want);  // the whole filtered ordered set, each row once
          // Each page's predecessor is the backward page from its first row.
          for (size_t i = 1; i < pages.size(); ++i) {
            ViewQuery back = q;
            back.after = Boundary(t, sort, pages[i].front());
            back.backward = true;
            ASSERT_EQ(Query(store, t, back), pages[i - 1]) << "page " << i;
          }
          // Backward from the last row: the rows just before it, in query order.
          if (!want.empty()) {
            ViewQuery back = q;
            back.after = Boundary(t, sort, want.back());
            back.backward = true;
            EXPECT_PAGE(store, t, rows, back);
            // Past the end: nothing forward.
            ViewQuery fwd = q;
            fwd.after = back.after;
            EXPECT_TRUE(Query(store, t, fwd).empty());
          }
        }
      }
    }
  }
}

TEST_P(StoreQueryTest, ForwardWalksCoverTheSetOnceAndBackwardPagesMatch) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const std::vector<Row> rows = Generate(6, 200);
  const TableSpec view = LoadItems(*store, rows);
  CheckWalks(*store, view, rows, {std::nullopt, kScore, kOrder, kAmount, kAt, kN});
}

TEST_P(StoreQueryTest, BoundariesBetweenRowsAndOnNullsMatchTheOracle) {
  // Boundaries that are not rows of the table, NULL sort values, and offsets with cursors.
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const std::vector<Row> rows = Generate(7, 150);
  const TableSpec view = LoadItems(*store, rows);
  RowGen gen(77);
  for (int i = 0; i < 300; ++i) {
    ViewQuery q;
    q.sort = (i % 3 == 0) ? std::optional<int>() : std::optional<int>(i % 3 == 1 ? kScore : kAt);
    q.descending = gen.Uniform(2) == 1;
    q.backward = gen.Uniform(2) == 1;
    q.limit = 1 + gen.Uniform(20);
    q.offset = gen.Uniform(4) == 0 ? gen.Uniform(5) : 0;
    if (gen.Uniform(3) == 0) q.filters = {F(kScore, FilterOp::kLte, {Value::Int(8)})};
    Row after;
    if (q.sort) after.push_back(q.sort == kScore ? gen.Score() : gen.At());
    after.push_back(Value::Text(kGroups[gen.Uniform(4)]));
    after.push_back(Value::Int(gen.Uniform(400) - 20));
    q.after = after;
    EXPECT_PAGE(*store, view, rows, q);
  }
}

TEST_P(StoreQueryTest, SingleColumnKey) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const TableSpec table = PlainTable("plain__v1");
  std::vector<Row> rows;
  for (int i = 0; i < 60; ++i) {
    rows.push_back({Value::Int(i * 3 - 50), i % 5 == 0 ? Value::Null() : Value::Int(i % 7)});
  }
  Load(*store, table, rows, "plain");
  const TableSpec view = AsView(table, "plain");
  for (std::optional<int> sort : {std::optional<int>(), std::optional<int>(1)}) {
    for (bool desc : {false, true}) {
      ViewQuery q;
      q.sort = sort;
      q.descending = desc;
      q.limit = 4;
      const std::vector<std::vector<Row>> pages = WalkForward(*store, view, q);
      std::vector<Row> got;
      for (const auto& page : pages) got.insert(got.end(), page.begin(), page.end());
      EXPECT_EQ(got, OracleAll(view, rows, q));
      for (size_t i = 1; i < pages.size(); ++i) {
        ViewQuery back = q;
        back.after = Boundary(view, sort, pages[i].front());
        back.backward = true;
        EXPECT_EQ(Query(*store, view, back), pages[i - 1]);
      }
    }
  }
}

TEST_P(StoreQueryTest, WalkWhileRowsChangeReturnsStableRowsOnce) {
  auto writer = Open();
  ASSERT_NE(writer, nullptr);
  const TableSpec table = ItemsTable("items__v1");
  for (bool desc : {false, true}) {
    for (std::optional<int> sort : {std::optional<int>(kScore), std::optional<int>()}) {
      SCOPED_TRACE(std::string(desc ? "desc" : "asc") + (sort ? " by score" : " by key"));
      std::vector<Row> rows = Generate(8, 150);
      Load(*writer, table, rows, "items");
      auto reader = Open(/*read_only=*/true);
      ASSERT_NE(reader, nullptr);
      const TableSpec view = AsView(table, "items");

      std::set<std::pair<std::string, int64_t>> used;
      std::map<std::pair<std::string, int64_t>, Row> live;
      for (const Row& r : rows) {
        used.emplace(r[kGrp].as_text(), r[kN].as_int());
        live[{r[kGrp].as_text(), r[kN].as_int()}] = r;
      }
      std::set<std::pair<std::string, int64_t>> unstable;  // moved or deleted meanwhile
      RowGen gen(desc ? 81 : 82);

      ViewQuery q;
      q.sort = sort;
      q.descending = desc;
      q.limit = 6;
      std::vector<Row> got;
      for (int guard = 0; guard < 1000; ++guard) {
        std::vector<Row> page = Query(*reader, view, q);
        if (page.empty()) break;
        got.insert(got.end(), page.begin(), page.end());
        q.after = Boundary(view, sort, page.back());

        // Between pages: inserts, updates of other columns, sort-value moves, deletes.
        std::unique_ptr<Batch> batch = writer->BeginBatch();
        for (int i = 0; i < 3; ++i) {
          Row r = gen.NewRow(&used);
          live[{r[kGrp].as_text(), r[kN].as_int()}] = r;
          ASSERT_TRUE(batch->Upsert(table, r).ok());
        }
        for (int i = 0; i < 4; ++i) {
          auto it = std::next(live.begin(), gen.Uniform(static_cast<int>(live.size())));
          Row r = it->second;
          const int what = gen.Uniform(4);
          if (what == 0) {
            r[kScore] = gen.Score();
            if (!(r[kScore] == it->second[kScore]) && sort) unstable.insert(it->first);
          } else {
            r[kOrder] = gen.Word();
            r[kAmount] = gen.Amount();
          }
          it->second = r;
          ASSERT_TRUE(batch->Upsert(table, r).ok());
        }
        {
          auto it = std::next(live.begin(), gen.Uniform(static_cast<int>(live.size())));
          unstable.insert(it->first);
          ASSERT_TRUE(batch->Delete(table, {it->second[kGrp], it->second[kN]}).ok());
          live.erase(it);
        }
        ASSERT_TRUE(batch->Commit().ok());
      }

      // Strictly increasing in the query order: each page continues past the last (a row that
      // moved ahead may come again, further on).
      for (size_t i = 1; i < got.size(); ++i) {
        ASSERT_LT(
            CompareTuples(Boundary(view, sort, got[i - 1]), Boundary(view, sort, got[i]), desc), 0)
            << i;
      }
      std::map<std::pair<std::string, int64_t>, int> seen;
      for (const Row& r : got) ++seen[{r[kGrp].as_text(), r[kN].as_int()}];
      int stable = 0;
      for (const Row& r : rows) {
        const std::pair<std::string, int64_t> key(r[kGrp].as_text(), r[kN].as_int());
        if (unstable.count(key)) continue;
        ++stable;
        EXPECT_EQ(seen[key], 1) << key.first << "/" << key.second;
      }
      EXPECT_GT(stable, 50);
      EXPECT_GT(unstable.size(), 10u);
      for (const auto& [key, n] : seen) {
        if (!unstable.count(key)) {
          EXPECT_EQ(n, 1) << key.first << "/" << key.second;
        }
      }
    }
  }
}

// ---- Read-only stores, positions

TEST_P(StoreQueryTest, ReadOnlyStoreSeesCommittedDataAndRefusesWrites) {
  if (!sqlite()) {
    // A schema (a memory database) without engine tables: Init says so instead of creating
    // them.
    absl::StatusOr<std::unique_ptr<Store>> reader = OpenStore(options_, StoreRole::kReader);
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_EQ((*reader)->Init().code(), absl::StatusCode::kFailedPrecondition);
  }
  if (sqlite()) {
    const std::string path_ = options_.path;
    // Nothing to open yet: a reader neither creates the file nor the tables.
    SqliteOptions options;
    options.path = path_;
    options.read_only = true;
    EXPECT_FALSE(OpenSqliteStore(options).ok());
    EXPECT_FALSE(std::filesystem::exists(path_));
  }
  if (sqlite()) {
    const std::string path_ = options_.path;
    // A database file without engine tables: Init says so instead of creating them.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE x(a)", nullptr, nullptr, nullptr),
        SQLITE_OK);
    sqlite3_close(db);
    SqliteOptions options;
    options.path = path_;
    options.read_only = true;
    absl::StatusOr<std::unique_ptr<Store>> reader = OpenSqliteStore(options);
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_EQ((*reader)->Init().code(), absl::StatusCode::kFailedPrecondition);
  }

  auto writer = Open();
  ASSERT_NE(writer, nullptr);
  const TableSpec table = ItemsTable("items__v1");
  std::vector<Row> rows = Generate(9, 40);
  Load(*writer, table, rows, "items");
  auto reader = Open(/*read_only=*/true);
  ASSERT_NE(reader, nullptr);
  const TableSpec view = AsView(table, "items");
  ViewQuery q;
  q.sort = kScore;
  q.limit = 1000;
  EXPECT_EQ(Query(*reader, view, q), OracleAll(view, rows, q));

  // Later commits are visible to the same reader (its cached statement included).
  std::set<std::pair<std::string, int64_t>> used;
  for (const Row& r : rows) used.emplace(r[kGrp].as_text(), r[kN].as_int());
  RowGen gen(90);
  {
    std::unique_ptr<Batch> batch = writer->BeginBatch();
    for (int i = 0; i < 5; ++i) {
      rows.push_back(gen.NewRow(&used));
      ASSERT_TRUE(batch->Upsert(table, rows.back()).ok());
    }
    ASSERT_TRUE(batch->SetPosition("orders", 0, 17).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  EXPECT_EQ(Query(*reader, view, q), OracleAll(view, rows, q));
  EXPECT_EQ(reader->GetRow(table, {rows.back()[kGrp], rows.back()[kN]})->value(), rows.back());
  absl::StatusOr<std::map<std::pair<std::string, int32_t>, int64_t>> positions =
      reader->AllPositions();
  ASSERT_TRUE(positions.ok()) << positions.status();
  EXPECT_EQ(positions->size(), 1u);
  EXPECT_EQ((*positions)[std::make_pair(std::string("orders"), 0)], 17);

  // A repointed view is seen through the reader's cached statement.
  const TableSpec v2 = ItemsTable("items__v2");
  std::vector<Row> rows2 = Generate(10, 30);
  ASSERT_TRUE(writer->CreateTable(v2).ok());
  {
    std::unique_ptr<Batch> batch = writer->BeginBatch();
    for (const Row& r : rows2) ASSERT_TRUE(batch->Upsert(v2, r).ok());
    ASSERT_TRUE(batch->ActivateVersion("items", 2, v2.name).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  EXPECT_EQ(Query(*reader, view, q), OracleAll(view, rows2, q));

  // Writes are refused up front, and nothing changed.
  std::unique_ptr<Batch> batch = reader->BeginBatch();
  EXPECT_EQ(batch->Upsert(table, rows.front()).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(batch->SetPosition("orders", 0, 99).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(reader->CreateTable(ItemsTable("items__v3")).ok());
  EXPECT_FALSE(reader->DropTable("items__v1").ok());
  std::vector<LogRecord> log(1);
  log[0].raw = "{}";
  EXPECT_FALSE(reader->AppendLog(&log).ok());
  EXPECT_EQ((*writer->AllPositions())[std::make_pair(std::string("orders"), 0)], 17);
  EXPECT_EQ(Query(*writer, view, q), OracleAll(view, rows2, q));
  // Read snapshots work on a reader.
  ASSERT_TRUE(reader->BeginRead().ok());
  EXPECT_EQ(Query(*reader, view, q).size(), rows2.size());
  reader->EndRead();
}

TEST_P(StoreQueryTest, AllPositionsReadsEverySourceAndPartition) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->AllPositions()->empty());
  std::map<std::pair<std::string, int32_t>, int64_t> want;
  {
    std::unique_ptr<Batch> batch = store->BeginBatch();
    for (const char* source : {"orders", "payments", "o'dd \"src\""}) {
      for (int32_t p = 0; p < 3; ++p) {
        const int64_t pos = 100 * p + static_cast<int64_t>(std::string(source).size());
        ASSERT_TRUE(batch->SetPosition(source, p, pos).ok());
        want[{source, p}] = pos;
      }
    }
    ASSERT_TRUE(batch->Commit().ok());
  }
  EXPECT_EQ(*store->AllPositions(), want);
  {
    std::unique_ptr<Batch> batch = store->BeginBatch();
    ASSERT_TRUE(batch->SetPosition("orders", 1, 5000).ok());
    ASSERT_TRUE(batch->SetPosition("orders", 7, 1).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  want[{"orders", 1}] = 5000;
  want[{"orders", 7}] = 1;
  EXPECT_EQ(*store->AllPositions(), want);
  // GetPositions agrees per source.
  std::map<int32_t, int64_t> orders = *store->GetPositions("orders");
  for (const auto& [p, pos] : orders) EXPECT_EQ((want[{"orders", p}]), pos);
}

TEST_P(StoreQueryTest, ManyStatementShapesStayCorrect) {
  // More distinct SQL texts than the statement cache holds (IN lists of many lengths).
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const std::vector<Row> rows = Generate(11, 200);
  const TableSpec view = LoadItems(*store, rows);
  for (int round = 0; round < 2; ++round) {
    for (int n = 1; n <= 100; ++n) {
      ViewQuery q;
      q.limit = 1000;
      q.sort = kScore;
      std::vector<Value> values;
      for (int i = 0; i < n; ++i) values.push_back(Value::Int(i * 4 - 20));
      q.filters = {F(kN, FilterOp::kIn, values)};
      EXPECT_PAGE(*store, view, rows, q);
    }
  }
  // A table dropped and recreated under the same name is queried afresh.
  ASSERT_TRUE(store->DropTable("items__v1").ok());
  EXPECT_FALSE(store->QueryView(ItemsTable("items__v1"), ViewQuery()).ok());
  const std::vector<Row> rows2 = Generate(12, 20);
  Load(*store, ItemsTable("items__v1"), rows2, "items");
  ViewQuery q;
  q.limit = 1000;
  EXPECT_EQ(Query(*store, ItemsTable("items__v1"), q), OracleAll(view, rows2, q));
}

// ---- Query plans

// EXPLAIN QUERY PLAN of the SQL the store runs for `q`, one line per plan row.
std::string Plan(const std::string& path, const TableSpec& t, const ViewQuery& q) {
  std::vector<Value> binds;
  absl::StatusOr<std::string> sql = sqlite::BuildViewQuerySql(t, q, &binds);
  EXPECT_TRUE(sql.ok()) << sql.status();
  if (!sql.ok()) return "";
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  const std::string explain = "EXPLAIN QUERY PLAN " + *sql;
  EXPECT_EQ(sqlite3_prepare_v2(db, explain.c_str(), -1, &stmt, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  std::vector<std::string> scratch(binds.size());
  for (size_t i = 0; i < binds.size(); ++i) {
    EXPECT_EQ(sqlite::BindValue(stmt, static_cast<int>(i + 1), binds[i], &scratch[i]), SQLITE_OK);
  }
  std::string plan;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    plan += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
    plan += "\n";
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return "SQL: " + *sql + "\n" + plan;
}

// The PostgreSQL plan of the SQL the store runs for `q`, with sorts and sequential scans
// priced out: a Sort node or a Seq Scan then means no index can serve the page.
std::string PgPlan(const PostgresOptions& options, const TableSpec& t, const ViewQuery& q) {
  absl::StatusOr<std::string> plan = ExplainPostgresQuery(options, t, q);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : "";
}

// A Sort plan node (a Merge Append's "Sort Key" is not one).
constexpr char kSortNode[] = "Sort  (";

TEST_P(StoreQueryTest, CursorPagesSeekAnIndexWithoutSortingPostgres) {
  if (!postgres()) GTEST_SKIP() << "PostgreSQL plans";
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Load(*store, ItemsTable("items__v1"), Generate(13, 500), "items");
  const TableSpec view = AsView(ItemsTable("items__v1"), "items");
  const PostgresOptions po = PgOptions();
  for (bool desc : {false, true}) {
    for (bool backward : {false, true}) {
      for (bool null_boundary : {false, true}) {
        ViewQuery q;
        q.sort = kScore;
        q.descending = desc;
        q.backward = backward;
        q.after =
            Row{null_boundary ? Value::Null() : Value::Int(5), Value::Text("b"), Value::Int(10)};
        const std::string plan = PgPlan(po, view, q);
        EXPECT_THAT(plan, Not(HasSubstr(kSortNode))) << plan;
        EXPECT_THAT(plan, HasSubstr("items__v1__i1")) << plan;
        EXPECT_THAT(plan, Not(HasSubstr("Seq Scan"))) << plan;
        q.filters = {F(kAmount, FilterOp::kGt, {Value::Real(0)})};
        EXPECT_THAT(PgPlan(po, view, q), Not(HasSubstr(kSortNode)));
      }
      ViewQuery q;
      q.descending = desc;
      q.backward = backward;
      q.after = Row{Value::Text("b"), Value::Int(10)};
      const std::string plan = PgPlan(po, view, q);
      EXPECT_THAT(plan, Not(HasSubstr(kSortNode))) << plan;
      EXPECT_THAT(plan, HasSubstr("items__v1__pk")) << plan;
      ViewQuery first;
      first.sort = kAt;
      first.descending = !desc;
      EXPECT_THAT(PgPlan(po, view, first), HasSubstr("items__v1__i3"));
      EXPECT_THAT(PgPlan(po, view, first), Not(HasSubstr(kSortNode)));
    }
  }
  ViewQuery unindexed;
  unindexed.sort = kAmount;
  EXPECT_THAT(PgPlan(po, view, unindexed), HasSubstr(kSortNode));
}

TEST_P(StoreQueryTest, CursorPagesSeekAnIndexWithoutSorting) {
  if (!sqlite()) GTEST_SKIP() << "SQLite plans (see ...Postgres)";
  const std::string path_ = options_.path;
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Load(*store, ItemsTable("items__v1"), Generate(13, 500), "items");
  const TableSpec view = AsView(ItemsTable("items__v1"), "items");

  for (bool desc : {false, true}) {
    for (bool backward : {false, true}) {
      for (bool null_boundary : {false, true}) {
        ViewQuery q;
        q.sort = kScore;
        q.descending = desc;
        q.backward = backward;
        q.after =
            Row{null_boundary ? Value::Null() : Value::Int(5), Value::Text("b"), Value::Int(10)};
        const std::string plan = Plan(path_, view, q);
        EXPECT_THAT(plan, Not(HasSubstr("TEMP B-TREE"))) << plan;
        EXPECT_THAT(plan, HasSubstr("USING INDEX items__v1__i1")) << plan;
        EXPECT_THAT(plan, Not(HasSubstr("SCAN"))) << plan;  // every access seeks
        // With a filter on an unindexed column the index still provides the order.
        q.filters = {F(kAmount, FilterOp::kGt, {Value::Real(0)})};
        EXPECT_THAT(Plan(path_, view, q), Not(HasSubstr("TEMP B-TREE")));
      }
      // Key order alone: the primary key.
      ViewQuery q;
      q.descending = desc;
      q.backward = backward;
      q.after = Row{Value::Text("b"), Value::Int(10)};
      const std::string plan = Plan(path_, view, q);
      EXPECT_THAT(plan, Not(HasSubstr("TEMP B-TREE"))) << plan;
      EXPECT_THAT(plan, HasSubstr("SEARCH")) << plan;
      EXPECT_THAT(plan, HasSubstr("PRIMARY KEY")) << plan;
      // A first page reads the index in order too.
      ViewQuery first;
      first.sort = kScore;
      first.descending = desc;
      EXPECT_THAT(Plan(path_, view, first), Not(HasSubstr("TEMP B-TREE")));
    }
  }
  // The check can fail: sorting on an unindexed column needs a sorter.
  ViewQuery unindexed;
  unindexed.sort = kAmount;
  EXPECT_THAT(Plan(path_, view, unindexed), HasSubstr("TEMP B-TREE"));
}

TEST_P(StoreQueryTest, GeneratedSqlShape) {
  if (!sqlite()) GTEST_SKIP() << "the SQLite text";
  const TableSpec t = ItemsTable("items__v1");
  std::vector<Value> binds;
  ViewQuery q;
  q.sort = kScore;
  q.filters = {F(kOrder, FilterOp::kIn, {Value::Text("a"), Value::Text("' OR 1=1 --")})};
  q.after = Row{Value::Int(5), Value::Text("b"), Value::Int(10)};
  q.limit = 20;
  absl::StatusOr<std::string> sql = sqlite::BuildViewQuerySql(AsView(t, "items"), q, &binds);
  ASSERT_TRUE(sql.ok());
  EXPECT_EQ(*sql,
            "SELECT \"grp\", \"n\", \"score\", \"order\", \"amount\", \"at\" FROM \"items\" "
            "WHERE \"order\" IN (?1, ?2) AND \"score\" >= ?3 AND (\"score\" > ?3 OR "
            "(\"score\" = ?3 AND \"grp\" >= ?4 AND (\"grp\" > ?4 OR (\"grp\" = ?4 AND \"n\" > "
            "?5)))) ORDER BY \"score\" ASC NULLS FIRST, \"grp\" ASC, \"n\" ASC LIMIT ?6 OFFSET ?7");
  EXPECT_EQ(binds.size(), 7u);
  EXPECT_THAT(*sql, Not(HasSubstr("OR 1=1")));  // values are bound, never spliced
  q.descending = true;
  sql = sqlite::BuildViewQuerySql(AsView(t, "items"), q, &binds);
  ASSERT_TRUE(sql.ok());
  EXPECT_THAT(*sql, HasSubstr(" UNION ALL "));
  EXPECT_THAT(*sql, HasSubstr("\"score\" IS NULL ORDER BY \"score\" DESC NULLS LAST"));
}

}  // namespace
}  // namespace sv::store
