// The gate and dead-letter rules end to end through the Processor, on in-memory rows (no store).

#include "engine/processor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/engine.h"
#include "engine/row_sets.h"
#include "store/open.h"

namespace sv::engine {
namespace {

using ::testing::HasSubstr;

constexpr char kConfig[] = R"(
store: {kind: memory}
sources:
  s:
    kind: log
    key: id
    type: type
    sequence: {header: x-sequence, field: seq}
    event_id: eid
    event_types: [Set, Add, Price]
gate: {stash_max_age_ms: 1000, stash_max_events: 3, dedup_window: 4}
views:
  v:
    source: s
    key: [id]
    columns: {id: text, total: integer, n: {type: integer, default: 0}, net: real}
    on:
      Set: {set: {id: e.id, total: e.value, n: n + 1}}
      Add: {set: {id: e.id, total: total + e.value, n: n + 1}}
      Price: {set: {id: e.id, net: e.value * 10, n: n + 1}}
)";

class ProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = config::ParseConfig(kConfig, "test.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    auto catalog = projection::Compile(*config);
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    catalog_ = std::move(*catalog);
    rows_ = std::make_unique<MemoryRowSet>(1);
    processor_ =
        std::make_unique<Processor>(catalog_.get(), 0, config->gate, rows_.get(), StateLoader{});
  }

  // Feeds one event line at the next position with log time `t_ms`.
  void Feed(const std::string& line, int64_t t_ms = 0) { FeedAt(0, ++position_, line, t_ms); }
  void FeedAt(int32_t partition, int64_t offset, const std::string& line, int64_t t_ms = 0) {
    source::SourceRecord r;
    r.partition = partition;
    r.offset = offset;
    r.log_time_us = t_ms * 1000;
    r.value = line;
    ASSERT_TRUE(processor_->Process(r).ok());
  }
  static std::string Ev(const std::string& type, int seq, const std::string& value,
                        const std::string& id = "k") {
    return absl::StrCat(R"({"type":")", type, R"(","id":")", id, R"(","seq":)", seq, R"(,"value":)",
                        value, "}");
  }
  // (total, n) of key `id`, or (-1, -1) when absent.
  std::pair<int64_t, int64_t> Row(const std::string& id = "k") {
    std::string key;
    Value v = Value::Text(id);
    EncodeKey(&v, 1, &key);
    auto row = rows_->Find(0, key, {v});
    if (!row.ok() || *row == nullptr) return {-1, -1};
    return {(**row)[1].as_int(), (**row)[2].as_int()};
  }
  int64_t Counter(const std::string& name) {
    processor_->MaterializeCounters();
    auto& c = processor_->changes().counters;
    auto it = c.find("s/" + name);
    return it == c.end() ? 0 : it->second;
  }

  std::unique_ptr<projection::Catalog> catalog_;
  std::unique_ptr<MemoryRowSet> rows_;
  std::unique_ptr<Processor> processor_;
  int64_t position_ = 0;
};

TEST_F(ProcessorTest, AppliesInSequenceAndSkipsDuplicatesAndOldEvents) {
  Feed(Ev("Set", 1, "10"));
  Feed(Ev("Add", 2, "5"));
  Feed(Ev("Add", 2, "5"));   // duplicate
  Feed(Ev("Set", 1, "99"));  // old
  EXPECT_EQ(Row(), std::make_pair(int64_t{15}, int64_t{2}));
  EXPECT_EQ(Counter("applied_total"), 2);
  EXPECT_EQ(Counter("duplicates_total"), 1);
  EXPECT_EQ(Counter("out_of_order_total"), 1);
  EXPECT_EQ(processor_->changes().key_states.at("k").last_sequence, 2);
  processor_->MaterializeCounters();
  EXPECT_EQ(processor_->changes().counters.at("s/type/Set"), 1);
  EXPECT_EQ(processor_->changes().counters.at("s/type/Add"), 1);
}

TEST_F(ProcessorTest, StashesAGapAndAppliesInOrderWhenItFills) {
  Feed(Ev("Set", 1, "1"));
  Feed(Ev("Add", 3, "100"));
  Feed(Ev("Add", 4, "1000"));
  Feed(Ev("Add", 4, "1000"));  // duplicate of a stashed sequence
  EXPECT_EQ(Row(), std::make_pair(int64_t{1}, int64_t{1}));
  EXPECT_EQ(Counter("stashed_total"), 2);
  EXPECT_EQ(Counter("duplicates_total"), 1);
  EXPECT_EQ(processor_->changes().pending_put.size(), 2u);
  Feed(Ev("Add", 2, "10"));
  EXPECT_EQ(Row(), std::make_pair(int64_t{1111}, int64_t{4}));
  EXPECT_TRUE(processor_->changes().pending_put.empty()) << "stashed then released in one batch";
  EXPECT_EQ(processor_->AllPending().size(), 0u);
}

TEST_F(ProcessorTest, ExpiredStashBecomesADeadLetterAndParksTheKey) {
  Feed(Ev("Set", 1, "1"), 0);
  Feed(Ev("Add", 3, "100"), 10);
  Feed(Ev("Add", 4, "1000"), 20);
  ASSERT_TRUE(processor_->ExpireStashes(500 * 1000).ok());
  EXPECT_EQ(processor_->changes().dead_letters.size(), 0u) << "not old enough yet";
  ASSERT_TRUE(processor_->ExpireStashes(1011 * 1000).ok());
  ASSERT_EQ(processor_->changes().dead_letters.size(), 1u);
  const auto& dl = processor_->changes().dead_letters[0];
  EXPECT_EQ(dl.position, 2);
  EXPECT_TRUE(dl.parks_key);
  EXPECT_THAT(dl.reason, HasSubstr("sequence gap: waited for sequence 2"));
  // Sequence 4 now waits behind the park; even the missing 2 is held, not applied around it.
  Feed(Ev("Add", 2, "10"), 30);
  EXPECT_EQ(Row(), std::make_pair(int64_t{1}, int64_t{1}));
  EXPECT_EQ(Counter("held_total"), 1);
  auto pending = processor_->AllPending();
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_TRUE(pending[0].held && pending[1].held);
}

TEST_F(ProcessorTest, StashOverItsSizeLimitExpires) {
  Feed(Ev("Set", 1, "1"));
  for (int seq = 3; seq <= 6; ++seq) Feed(Ev("Add", seq, "1"));
  ASSERT_TRUE(processor_->ExpireStashes(0).ok());
  ASSERT_EQ(processor_->changes().dead_letters.size(), 1u);
  EXPECT_EQ(Counter("stash_expired_total"), 1);
}

TEST_F(ProcessorTest, PoisonEventParksOnlyItsKeyAndReplayAfterFixReleasesHeldEvents) {
  Feed(Ev("Set", 1, "1", "a"));
  Feed(Ev("Set", 1, "1", "b"));
  Feed(Ev("Add", 2, R"("3")", "a"));  // a string where a number is needed
  Feed(Ev("Add", 3, "10", "a"));      // held behind the poison
  Feed(Ev("Add", 2, "7", "b"));       // other keys go on
  EXPECT_EQ(Row("a"), std::make_pair(int64_t{1}, int64_t{1}));
  EXPECT_EQ(Row("b"), std::make_pair(int64_t{8}, int64_t{2}));
  ASSERT_EQ(processor_->changes().dead_letters.size(), 1u);
  store::DeadLetter dl = processor_->changes().dead_letters[0];
  EXPECT_THAT(dl.reason, HasSubstr("operator +"));
  EXPECT_EQ(dl.key, "a");
  dl.id = 1;
  // Replaying it unchanged fails again and keeps the key parked.
  EXPECT_FALSE(processor_->Replay(dl, nullptr).ok());
  EXPECT_EQ(Row("a"), std::make_pair(int64_t{1}, int64_t{1}));
  // Replaying a corrected record applies it, then the held sequence 3 follows.
  const std::string fixed = Ev("Add", 2, "3", "a");
  ASSERT_TRUE(processor_->Replay(dl, &fixed).ok());
  EXPECT_EQ(Row("a"), std::make_pair(int64_t{14}, int64_t{3}));
  EXPECT_EQ(Counter("released_total"), 1);
}

TEST_F(ProcessorTest, AnOverflowToInfinityParksTheKeyInsteadOfStoringIt) {
  Feed(Ev("Set", 1, "1"));
  Feed(Ev("Price", 2, "1e308"));  // 1e308 * 10 is not a finite double
  Feed(Ev("Add", 3, "10"));       // held behind it
  EXPECT_EQ(Row(), std::make_pair(int64_t{1}, int64_t{1}));
  ASSERT_EQ(processor_->changes().dead_letters.size(), 1u);
  const store::DeadLetter& dl = processor_->changes().dead_letters[0];
  EXPECT_TRUE(dl.parks_key);
  EXPECT_THAT(dl.reason, HasSubstr("value out of range"));
  EXPECT_EQ(Counter("held_total"), 1);
}

TEST_F(ProcessorTest, DiscardConsumesThePoisonAndReleasesTheKey) {
  Feed(Ev("Set", 1, "1"));
  Feed(Ev("Add", 2, "null"));        // NULL total is fine...
  Feed(Ev("Add", 3, R"({"x":1})"));  // ...an object is not
  Feed(Ev("Add", 4, "10"));
  ASSERT_EQ(processor_->changes().dead_letters.size(), 1u);
  store::DeadLetter dl = processor_->changes().dead_letters[0];
  dl.id = 1;
  ASSERT_TRUE(processor_->Discard(dl).ok());
  EXPECT_EQ(Row().second, 3) << "sequence 4 applied after the discarded 3";
  EXPECT_EQ(Counter("discarded_total"), 1);
}

TEST_F(ProcessorTest, MalformedRecordsBecomeDeadLettersWithTheirReason) {
  Feed("{not json");
  Feed(R"({"type":"Set","seq":1,"value":1})");
  Feed(R"({"id":"k","seq":1,"value":1})");
  Feed(R"({"type":"Nope","id":"z","seq":1})");
  const auto& dls = processor_->changes().dead_letters;
  ASSERT_EQ(dls.size(), 4u);
  EXPECT_THAT(dls[0].reason, HasSubstr("unparseable JSON"));
  EXPECT_THAT(dls[1].reason, HasSubstr("missing key"));
  EXPECT_THAT(dls[2].reason, HasSubstr("missing event type"));
  EXPECT_THAT(dls[3].reason, HasSubstr("unknown event type 'Nope'"));
  EXPECT_TRUE(dls[3].parks_key);
  EXPECT_FALSE(dls[0].parks_key);
}

TEST_F(ProcessorTest, EventsWithoutSequenceAreDedupedByIdOverAWindowOfPositions) {
  auto ev = [](const std::string& eid, int value) {
    return absl::StrCat(R"({"type":"Add","id":"k","eid":")", eid, R"(","value":)", value, "}");
  };
  Feed(R"({"type":"Set","id":"k","eid":"e0","value":0})");
  Feed(ev("e1", 1));  // position 2
  Feed(ev("e1", 1));
  EXPECT_EQ(Row().first, 1);
  EXPECT_EQ(Counter("duplicates_total"), 1);
  for (int i = 2; i <= 5; ++i) Feed(ev(absl::StrCat("e", i), 1));
  Feed(ev("e1", 1));  // position 8, 6 past the first: beyond the window of 4, applied again
  EXPECT_EQ(Row().first, 6);
  EXPECT_EQ(processor_->dedup_progress().StoreBound(4), 4) << "8 read, window 4";
}

// Ids are remembered by position, and each partition forgets by its own progress: a partition
// far ahead must not make the store forget ids another partition's window still holds.
TEST_F(ProcessorTest, TheDedupWindowFollowsEachPartitionAcrossRestores) {
  processor_->Restore({}, {{"old-a", 40}, {"old-b", 41}});
  FeedAt(0, 42, R"({"type":"Add","id":"k","eid":"old-a","value":1})");  // 2 away: a duplicate
  FeedAt(1, 1'000'000, R"({"type":"Add","id":"k","eid":"e1","value":1})");
  EXPECT_EQ(Counter("duplicates_total"), 1);
  ASSERT_EQ(processor_->changes().event_ids.size(), 1u);
  EXPECT_EQ(processor_->changes().event_ids[0],
            std::make_pair(std::string("e1"), int64_t{1'000'000}));
  EXPECT_EQ(processor_->dedup_progress().StoreBound(4), 38) << "partition 0 read to 42";
  FeedAt(0, 44, R"({"type":"Add","id":"k","eid":"old-b","value":1})");      // 3 away: a duplicate
  FeedAt(1, 1'000'004, R"({"type":"Add","id":"k","eid":"e1","value":1})");  // 4 away: too
  EXPECT_EQ(Counter("duplicates_total"), 3);
  FeedAt(0, 46, R"({"type":"Add","id":"k","eid":"old-a","value":1})");  // 6 away: applied
  EXPECT_EQ(Counter("duplicates_total"), 3);
}

// A held event keeps the ids it could repeat: a release long after must decide as if it came on
// time, whatever else the processor read meanwhile.
TEST_F(ProcessorTest, AHeldDuplicateIsStillADuplicateWhenReleased) {
  FeedAt(0, 1, R"({"type":"Set","id":"k","eid":"a","value":1})");
  FeedAt(0, 2, R"({"type":"Nope","id":"k","eid":"b"})");           // parks k
  FeedAt(0, 3, R"({"type":"Add","id":"k","eid":"a","value":1})");  // held, then a duplicate
  for (int i = 0; i < 20; ++i) {
    FeedAt(0, 10 + i, absl::StrCat(R"({"type":"Add","id":"other","eid":"o)", i, R"(","value":1})"));
  }
  ASSERT_TRUE(processor_->ExpireStashes(0).ok());
  ASSERT_EQ(processor_->changes().dead_letters.size(), 1u);
  store::DeadLetter dl = processor_->changes().dead_letters[0];
  ASSERT_TRUE(processor_->Discard(dl).ok());
  EXPECT_EQ(Row().first, 1) << "the released repeat of 'a' is a duplicate";
  EXPECT_EQ(Counter("duplicates_total"), 1);
}

// A store read that fails fails the batch, whatever its status code: it is not the event's
// fault, so the key must not be parked (the engine retries from the stored positions).
TEST_F(ProcessorTest, AFailedStoreReadFailsTheBatchAndParksNothing) {
  store::StoreOptions options;
  options.path = ::testing::TempDir() + "/processor_read_fails.db";
  std::filesystem::remove(options.path);
  auto store = store::OpenStore(options, store::StoreRole::kWriter);
  ASSERT_TRUE(store.ok()) << store.status();
  store::TableSpec table = TableFor(catalog_->views[0], 1);
  ASSERT_TRUE((*store)->CreateTable(table).ok());
  // The store answers a read with InvalidArgument (a key that does not match the table's).
  table.key.push_back(1);
  CachedRowSet rows(store->get(), {table}, 100);
  Processor processor(catalog_.get(), 0, config::GateConfig{}, &rows, StateLoader{});
  source::SourceRecord r;
  r.offset = 1;
  r.value = Ev("Set", 1, "10");
  const absl::Status status = processor.Process(r);
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("table key has 2"));
  EXPECT_TRUE(processor.changes().dead_letters.empty());
  EXPECT_TRUE(processor.changes().key_states.empty()) << "the key is not parked";
}

}  // namespace
}  // namespace sv::engine

namespace sv::engine {
namespace {

// `key: {from: envelope}`: the key is the envelope's (or a Kafka message's) only; a body field of
// the same name routes nothing, and a record without an envelope key is a dead letter.
TEST(ProcessorKeyTest, AnEnvelopeOnlyKeyNeverFallsBackToABodyField) {
  const std::string text =
      absl::StrReplaceAll(kConfig, {{"key: id\n", "key: {from: envelope}\n"},
                                    {"    sequence: {header: x-sequence, field: seq}\n", ""},
                                    {"Set: {set: {id: e.id,", "Set: {set: {id: meta.key,"}});
  auto config = config::ParseConfig(text, "test.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->sources[0].key_from_envelope_only);
  auto catalog = projection::Compile(*config);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  MemoryRowSet rows(1);
  Processor processor(catalog->get(), 0, config->gate, &rows, StateLoader{});
  int64_t position = 0;
  auto feed = [&](const std::string& value, std::optional<std::string> native_key) {
    source::SourceRecord r;
    r.offset = ++position;
    r.value = value;
    r.key = std::move(native_key);
    ASSERT_TRUE(processor.Process(r).ok());
  };
  feed(R"({"key":"a","value":{"type":"Set","id":"x","value":5,"eid":"1"}})", std::nullopt);
  feed(R"({"type":"Set","id":"b","value":6,"eid":"2"})", std::nullopt);
  feed(R"({"type":"Set","id":"y","value":7,"eid":"3"})", "c");
  auto total = [&](const std::string& id) -> int64_t {
    std::string key;
    Value v = Value::Text(id);
    EncodeKey(&v, 1, &key);
    auto row = rows.Find(0, key, {v});
    return row.ok() && *row != nullptr ? (**row)[1].as_int() : -1;
  };
  EXPECT_EQ(total("a"), 5) << "keyed by the envelope, not by e.id";
  EXPECT_EQ(total("c"), 7) << "keyed by the message key";
  EXPECT_EQ(total("b"), -1);
  EXPECT_EQ(total("x"), -1);
  const auto& dls = processor.changes().dead_letters;
  ASSERT_EQ(dls.size(), 1u);
  EXPECT_THAT(dls[0].reason, HasSubstr("envelope's or message's key only"));

  EXPECT_THAT(std::string(config::ParseConfig(
                              absl::StrReplaceAll(kConfig, {{"key: id\n", "key: {from: body}\n"}}),
                              "test.yaml")
                              .status()
                              .message()),
              HasSubstr("or {from: envelope}"));
}

}  // namespace
}  // namespace sv::engine
