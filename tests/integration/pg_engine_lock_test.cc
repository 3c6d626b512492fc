// The PostgreSQL engine lock after a crash: a new engine started while the previous engine's
// session still holds the schema's lock (its backend has not yet noticed the dead client) waits
// for it, bounded and logged, instead of refusing; partition locks taken on a Kafka assignment
// wait bounded too; every connection asks the server to check for a dead client.
// Real PostgreSQL (SV_TEST_PG_DSN); the SQLite cases skip.

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "common/value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store_backends.h"

namespace sv::store {
namespace {

using ::testing::HasSubstr;

class PgEngineLockTest : public BackendTest {
 protected:
  // The first column of the first row of `sql` as text ("" when there is no row).
  std::string Scalar(Store& store, const std::string& sql) {
    std::string out;
    absl::Status s = store.QuerySelect(sql, {{"v", Type::kText}},
                                       [&](const Row& row) { out = row[0].as_text(); });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  // Polls until a session of this database other than the lock holders has been refused the
  // lock and has finished looking up who holds it (its last query, done: the holder lookup run
  // after each refused try): the waiting engine is observed, not assumed, to have named the
  // holder while it was alive. (Watching for its try alone raced: the holder could end between
  // the try and the lookup, which then rightly said "unknown".)
  bool WaitForWaiter(Store& probe) {
    const std::string sql =
        "SELECT count(*)::text FROM pg_stat_activity WHERE application_name = 'streamview' AND "
        "state = 'idle' AND query LIKE 'SELECT ''pid '' ||%' AND pid NOT IN (SELECT pid FROM "
        "pg_locks "
        "WHERE locktype = 'advisory' AND granted) AND pid <> pg_backend_pid()";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Scalar(probe, sql) != "0") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
};

TEST_P(PgEngineLockTest, StartWaitsForThePreviousEnginesSessionToEnd) {
  if (!postgres()) GTEST_SKIP() << "PostgreSQL engine lock";
  std::unique_ptr<Store> previous = OpenAs(StoreRole::kEngine);
  ASSERT_NE(previous, nullptr);
  std::unique_ptr<Store> probe = OpenAs(StoreRole::kWriter);
  ASSERT_NE(probe, nullptr);
  StoreOptions patient = options_;
  patient.engine_lock_wait_ms = 120'000;
  ::testing::internal::CaptureStderr();
  auto next =
      std::async(std::launch::async, [&] { return OpenStore(patient, StoreRole::kEngine); });
  const bool observed = WaitForWaiter(*probe);
  previous.reset();  // the session ends: its lock goes with it
  absl::StatusOr<std::unique_ptr<Store>> opened = next.get();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(observed) << "the second engine was never seen waiting for the lock";
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_THAT(log, HasSubstr("waiting for the previous engine's session to end"));
  EXPECT_THAT(log, HasSubstr("\"holder\":\"pid "));  // who held it, from pg_stat_activity
  // It holds the lock now: a third engine is refused once its (short) wait is over.
  StoreOptions no_wait = options_;
  no_wait.engine_lock_wait_ms = 0;
  absl::StatusOr<std::unique_ptr<Store>> third = OpenStore(no_wait, StoreRole::kEngine);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(third.status().message(), HasSubstr("another streamview engine"));
}

TEST_P(PgEngineLockTest, WaitIsBoundedAndNamesTheHolder) {
  if (!postgres()) GTEST_SKIP() << "PostgreSQL engine lock";
  std::unique_ptr<Store> live = OpenAs(StoreRole::kEngine);
  ASSERT_NE(live, nullptr);
  StoreOptions brief = options_;
  brief.engine_lock_wait_ms = 500;
  absl::StatusOr<std::unique_ptr<Store>> second = OpenStore(brief, StoreRole::kEngine);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("waited 500 ms"));
  EXPECT_THAT(second.status().message(), HasSubstr("server process pid "));
}

// Partition locks are taken inside librdkafka's rebalance callback: never an unbounded wait.
TEST_P(PgEngineLockTest, PartitionLockWaitIsBounded) {
  if (!postgres()) GTEST_SKIP() << "PostgreSQL partition locks";
  options_.shared_by_partition = true;
  options_.engine_lock_wait_ms = 300;
  std::unique_ptr<Store> owner = OpenAs(StoreRole::kEngine);
  std::unique_ptr<Store> zombie_successor = OpenAs(StoreRole::kEngine);
  ASSERT_NE(owner, nullptr);
  ASSERT_NE(zombie_successor, nullptr);
  ASSERT_TRUE(owner->LockPartitions("orders", {0, 1}).ok());
  absl::Status s = zombie_successor->LockPartitions("orders", {1});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr("partition 1 of source orders is still held"));
  ASSERT_TRUE(owner->UnlockPartitions("orders").ok());
  EXPECT_TRUE(zombie_successor->LockPartitions("orders", {1}).ok());
}

// Every connection asks the server (PostgreSQL 14+) to check for a vanished client while a
// statement runs, so a killed engine's backend ends, and frees its locks, within seconds.
TEST_P(PgEngineLockTest, SessionsCheckForADeadClient) {
  if (!postgres()) GTEST_SKIP() << "PostgreSQL sessions";
  for (StoreRole role : {StoreRole::kEngine, StoreRole::kWriter, StoreRole::kReader}) {
    std::unique_ptr<Store> store = OpenAs(role, /*init=*/role != StoreRole::kReader);
    ASSERT_NE(store, nullptr);
    if (Scalar(*store, "SELECT current_setting('server_version_num')") < "140000") {
      GTEST_SKIP() << "client_connection_check_interval needs PostgreSQL 14";
    }
    EXPECT_EQ(Scalar(*store, "SELECT current_setting('client_connection_check_interval')"), "2s");
  }
}

SV_INSTANTIATE_STORE_BACKENDS(PgEngineLockTest);

}  // namespace
}  // namespace sv::store
