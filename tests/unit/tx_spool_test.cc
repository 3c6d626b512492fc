// The change feed's transaction spool: records beyond the memory limit go to a temporary file and
// come back in order, unchanged; a rolled-back subtransaction's records are dropped wherever
// they lie (memory or file), and the count of records kept says so before reading.

#include "source/pg_changes/tx_spool.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sv::source::pg {
namespace {

SourceRecord Record(int i) {
  SourceRecord r;
  r.partition = 0;
  r.offset = i;
  r.log_time_us = 1000 + i;
  r.value = absl::StrCat("{\"id\":", i, ",\"pad\":\"",
                         std::string(static_cast<size_t>(i % 50), 'x'), "\"}");
  if (i % 3 != 0) r.key = absl::StrCat("k", i);
  r.routing_key = absl::StrCat("k", i);
  r.headers = {{"sv-type", "t.insert"}, {"xid", absl::StrCat(i % 7)}};
  return r;
}

std::vector<SourceRecord> ReadAll(TxSpool& spool, size_t page) {
  std::vector<SourceRecord> all;
  for (;;) {
    const size_t before = all.size();
    absl::StatusOr<bool> more = spool.Next(page, &all);
    EXPECT_TRUE(more.ok()) << more.status();
    EXPECT_LE(all.size() - before, page);
    if (!more.ok() || !*more) return all;
  }
}

TEST(TxSpoolTest, RecordsBeyondTheMemoryLimitComeBackFromTheFileInOrderUnchanged) {
  TxSpool spool(/*memory_records=*/10, "");
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(spool.Add(1, Record(i)).ok());
  EXPECT_TRUE(spool.spilled());
  EXPECT_EQ(spool.Kept(), 1000);
  const std::vector<SourceRecord> all = ReadAll(spool, 64);
  ASSERT_EQ(all.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    const SourceRecord want = Record(i);
    const SourceRecord& got = all[static_cast<size_t>(i)];
    EXPECT_EQ(got.offset, want.offset);
    EXPECT_EQ(got.log_time_us, want.log_time_us);
    EXPECT_EQ(got.value, want.value);
    EXPECT_EQ(got.key, want.key) << i;
    EXPECT_EQ(got.routing_key, want.routing_key);
    EXPECT_EQ(got.headers, want.headers);
  }
}

TEST(TxSpoolTest, ARolledBackSubtransactionLosesOnlyItsOwnRecords) {
  TxSpool spool(/*memory_records=*/25, "");
  // Top-level 100 and subtransactions 101 (rolled back) and 102 (kept), interleaved across the
  // memory limit.
  std::vector<int> kept;
  for (int i = 0; i < 300; ++i) {
    const uint32_t subxid = i % 3 == 0 ? 100 : (i % 3 == 1 ? 101 : 102);
    ASSERT_TRUE(spool.Add(subxid, Record(i)).ok());
    if (subxid != 101) kept.push_back(i);
  }
  spool.Abort(101);
  spool.Abort(101);  // said twice, counted once
  spool.Abort(555);  // never seen
  EXPECT_EQ(spool.Kept(), static_cast<int64_t>(kept.size()));
  const std::vector<SourceRecord> all = ReadAll(spool, 7);
  ASSERT_EQ(all.size(), kept.size());
  for (size_t i = 0; i < kept.size(); ++i) EXPECT_EQ(all[i].offset, kept[i]);
}

TEST(TxSpoolTest, AnUnwritableDirectoryIsAClearRetryableError) {
  TxSpool spool(/*memory_records=*/1, "/nonexistent/spool");
  ASSERT_TRUE(spool.Add(1, Record(0)).ok());  // in memory
  const absl::Status s = spool.Add(1, Record(1));
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("/nonexistent/spool"), std::string::npos) << s;
}

}  // namespace
}  // namespace sv::source::pg
