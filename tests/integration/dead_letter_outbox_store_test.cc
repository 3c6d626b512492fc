// The dead-letter outbox against every backend: entries commit (or roll back) with their
// batch, are listed per source with the dead letters' fields, and leave once deleted; a store
// of the schema before the outbox gains it on Init.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "store/store.h"
#include "store_backends.h"

namespace sv::store {
namespace {

class DeadLetterOutboxTest : public BackendTest {};

SV_INSTANTIATE_STORE_BACKENDS_AND_MEMORY(DeadLetterOutboxTest);

DeadLetter Letter(std::string source, int32_t partition, int64_t position) {
  DeadLetter dl;
  dl.source = std::move(source);
  dl.partition = partition;
  dl.position = position;
  dl.key = "k" + std::to_string(position);
  dl.reason = "bad " + std::to_string(position);
  dl.raw = "{\"at\":" + std::to_string(position) + "}";
  return dl;
}

std::vector<int64_t> Ids(const std::vector<DeadLetter>& dls) {
  std::vector<int64_t> ids;
  for (const DeadLetter& dl : dls) ids.push_back(dl.id);
  return ids;
}

TEST_P(DeadLetterOutboxTest, EntriesCommitWithTheirBatchAndLeaveWhenDeleted) {
  auto store = OpenAs(StoreRole::kWriter);
  ASSERT_NE(store, nullptr);
  std::vector<DeadLetter> dls = {Letter("orders", 0, 10), Letter("orders", 1, 11),
                                 Letter("orders", 2, 12), Letter("payments", 0, 13)};
  {
    // Rolled back: neither the dead letters nor their outbox entries exist.
    auto batch = store->BeginBatch();
    ASSERT_TRUE(batch->AddDeadLetter(&dls[0]).ok());
    ASSERT_TRUE(batch->AddDeadLetterOutbox(dls[0].id).ok());
  }
  EXPECT_TRUE(store->ListDeadLetterOutbox("orders")->empty());

  auto batch = store->BeginBatch();
  for (size_t i = 0; i < dls.size(); ++i) {
    ASSERT_TRUE(batch->AddDeadLetter(&dls[i]).ok());
    // The third is not mirrored (no outbox entry).
    if (i != 2) {
      ASSERT_TRUE(batch->AddDeadLetterOutbox(dls[i].id).ok());
    }
  }
  ASSERT_TRUE(batch->AddDeadLetterOutbox(dls[0].id).ok());  // twice: no change
  ASSERT_TRUE(batch->Commit().ok());

  auto other = OpenAs(StoreRole::kWriter);
  ASSERT_NE(other, nullptr);
  absl::StatusOr<std::vector<DeadLetter>> orders = other->ListDeadLetterOutbox("orders");
  ASSERT_TRUE(orders.ok()) << orders.status();
  EXPECT_EQ(Ids(*orders), (std::vector<int64_t>{dls[0].id, dls[1].id}));
  ASSERT_EQ(orders->size(), 2u);
  EXPECT_EQ((*orders)[1].partition, 1);
  EXPECT_EQ((*orders)[1].position, 11);
  EXPECT_EQ((*orders)[1].key, "k11");
  EXPECT_EQ((*orders)[1].reason, "bad 11");
  EXPECT_EQ((*orders)[1].raw, "{\"at\":11}");
  EXPECT_EQ(Ids(*other->ListDeadLetterOutbox("payments")), (std::vector<int64_t>{dls[3].id}));

  // A confirmed copy leaves; unknown ids and an empty list are no error.
  ASSERT_TRUE(other->DeleteDeadLetterOutbox({dls[0].id, 999}).ok());
  ASSERT_TRUE(other->DeleteDeadLetterOutbox({}).ok());
  EXPECT_EQ(Ids(*store->ListDeadLetterOutbox("orders")), (std::vector<int64_t>{dls[1].id}));
  // The dead letters themselves stay.
  EXPECT_EQ(store->ListDeadLetters(false)->size(), 4u);
}

TEST_P(DeadLetterOutboxTest, AStoreFromBeforeTheOutboxGainsItOnInit) {
  if (!sqlite()) GTEST_SKIP() << "schema surgery through sqlite3 only";
  ASSERT_NE(OpenAs(StoreRole::kWriter), nullptr);
  // What a store written by a binary of schema version 1 looks like.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(options_.path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db,
                         "DROP TABLE sv_dead_letter_outbox; "
                         "UPDATE sv_meta SET value = '1' WHERE name = 'schema_version'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);

  auto store = OpenAs(StoreRole::kWriter);
  ASSERT_NE(store, nullptr);
  DeadLetter dl = Letter("orders", 0, 1);
  auto batch = store->BeginBatch();
  ASSERT_TRUE(batch->AddDeadLetter(&dl).ok());
  ASSERT_TRUE(batch->AddDeadLetterOutbox(dl.id).ok());
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(Ids(*store->ListDeadLetterOutbox("orders")), (std::vector<int64_t>{dl.id}));
}

}  // namespace
}  // namespace sv::store
