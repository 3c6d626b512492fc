// SQLite batches: many view rows and key states written several per statement must read back
// exactly as written one by one (values, NULLs, overwrites of existing rows, order of clears).

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/value.h"
#include "gtest/gtest.h"
#include "store/store.h"

namespace sv::store {
namespace {

TableSpec Wide() {
  TableSpec t;
  t.name = "wide__v1";
  for (int c = 0; c < 12; ++c) {
    t.columns.push_back({"c" + std::to_string(c), c == 0 ? Type::kText : Type::kInt});
  }
  t.key = {0};
  return t;
}

Row WideRow(int i, int generation) {
  Row row{Value::Text("k" + std::to_string(100000 + i))};
  for (int c = 1; c < 12; ++c) {
    row.push_back((i + c) % 7 == 0 ? Value::Null() : Value::Int(i * 100 + c + generation));
  }
  return row;
}

class SqliteBatchRowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = testing::TempDir() + "/sqlite_batch_rows.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    SqliteOptions options;
    options.path = dir_ + "/store.db";
    auto store = OpenSqliteStore(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->Init().ok());
    ASSERT_TRUE(store_->CreateTable(Wide()).ok());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Write(int n, int generation) {
    std::vector<Row> rows;
    for (int i = 0; i < n; ++i) rows.push_back(WideRow(i, generation));
    std::vector<const Row*> ptrs;
    for (const Row& r : rows) ptrs.push_back(&r);
    auto batch = store_->BeginBatch();
    ASSERT_TRUE(batch->UpsertRows(Wide(), ptrs).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }

  std::vector<Row> Scan() {
    std::vector<Row> out;
    EXPECT_TRUE(store_->ScanTable(Wide(), [&](const Row& r) { out.push_back(r); }).ok());
    return out;
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqliteBatchRowsTest, ManyRowsReadBackExactly) {
  // 12 columns: 83 rows per statement, so 250 rows are 3 full statements and 1 row by itself.
  Write(250, 0);
  std::vector<Row> got = Scan();
  ASSERT_EQ(got.size(), 250u);
  for (int i = 0; i < 250; ++i) EXPECT_EQ(got[i], WideRow(i, 0)) << i;
}

TEST_F(SqliteBatchRowsTest, ManyRowsOverwriteExistingOnes) {
  Write(300, 0);
  Write(200, 7);  // the first 200 change, the other 100 stay
  std::vector<Row> got = Scan();
  ASSERT_EQ(got.size(), 300u);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(got[i], WideRow(i, i < 200 ? 7 : 0)) << i;
}

TEST_F(SqliteBatchRowsTest, KeyStatesBufferedAcrossClearsAndCommits) {
  auto batch = store_->BeginBatch();
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(batch->PutKeyState("s", {"gone" + std::to_string(i), i + 1, 0}).ok());
  }
  ASSERT_TRUE(batch->ClearSourceState("s").ok());  // clears what was put before it
  for (int i = 0; i < 259; ++i) {
    ASSERT_TRUE(batch->PutKeyState("s", {"k" + std::to_string(i), i + 1, i % 5}).ok());
  }
  ASSERT_TRUE(batch->PutKeyState("s", {"k3", 99, 0}).ok());  // the last write of a key wins
  ASSERT_TRUE(batch->Commit().ok());
  for (int i : {0, 127, 128, 258}) {
    auto st = store_->GetKeyState("s", "k" + std::to_string(i));
    ASSERT_TRUE(st.ok() && st->has_value()) << i;
    EXPECT_EQ((*st)->last_sequence, i + 1);
    EXPECT_EQ((*st)->parked_on, i % 5);
  }
  auto k3 = store_->GetKeyState("s", "k3");
  ASSERT_TRUE(k3.ok() && k3->has_value());
  EXPECT_EQ((*k3)->last_sequence, 99);
  auto gone = store_->GetKeyState("s", "gone1");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
}

TEST_F(SqliteBatchRowsTest, UncommittedKeyStatesAreNotWritten) {
  {
    auto batch = store_->BeginBatch();
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE(batch->PutKeyState("s", {"k" + std::to_string(i), 1, 0}).ok());
    }
  }  // destroyed without Commit: rolled back
  for (int i : {0, 150}) {
    auto st = store_->GetKeyState("s", "k" + std::to_string(i));
    ASSERT_TRUE(st.ok());
    EXPECT_FALSE(st->has_value()) << i;
  }
}

}  // namespace
}  // namespace sv::store
