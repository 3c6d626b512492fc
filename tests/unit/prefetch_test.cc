// Processor::Prefetch (engine/prefetch.cc): before a poll's records are applied, the gate
// states and view rows they will read are asked for in one read each, and the apply then reads
// nothing it was not given; the outcome is the same as without it (an oracle: the same records
// through a processor that reads each key when it meets it).

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/processor.h"
#include "engine/row_sets.h"

namespace sv::engine {
namespace {

constexpr char kConfig[] = R"(
store: {kind: memory}
sources:
  s:
    kind: log
    key: id
    type: type
    sequence: {field: seq}
    event_types: [Set, Tag]
views:
  totals:
    source: s
    key: [id]
    columns: {id: text, total: integer, n: {type: integer, default: 0}}
    on:
      Set: {set: {id: e.id, total: e.value, n: n + 1}}
  tags:
    source: s
    key: [id, tag]
    columns: {id: text, tag: text, n: {type: integer, default: 0}}
    on:
      Tag: {set: {id: e.id, tag: e.tag, n: n + 1}}
)";

// Rows in memory that note what was prefetched and which reads were not foreseen by it.
class WatchedRows : public MemoryRowSet {
 public:
  explicit WatchedRows(size_t views = 2) : MemoryRowSet(views) {}
  absl::StatusOr<const Row*> Find(int view, const std::string& key,
                                  const Row& key_values) override {
    if (!prefetched_.contains({view, key}) && !written_.contains({view, key})) ++unforeseen_;
    return MemoryRowSet::Find(view, key, key_values);
  }
  void Put(int view, const std::string& key, Row row) override {
    written_.insert({view, key});
    MemoryRowSet::Put(view, key, std::move(row));
  }
  absl::Status Prefetch(int view, const std::vector<std::pair<std::string, Row>>& keys) override {
    for (const auto& [key, values] : keys) {
      prefetched_.insert({view, key});
      prefetched_values_.insert(absl::StrCat(view, ":", values.back().ToString()));
    }
    return absl::OkStatus();
  }
  // As a cache: what was prefetched or written is held, nothing else.
  std::optional<const Row*> Held(int view, const std::string& key) override {
    if (!prefetched_.contains({view, key}) && !written_.contains({view, key})) return std::nullopt;
    absl::StatusOr<const Row*> row = MemoryRowSet::Find(view, key, {});
    return row.ok() ? *row : nullptr;
  }
  // Rows already in the "store" before the test: read only when asked.
  void Preload(int view, const std::string& key, Row row) {
    MemoryRowSet::Put(view, key, std::move(row));
  }
  // Every row of a view, encoded key → encoded row.
  std::map<std::string, std::string> Dump(int view) {
    std::map<std::string, std::string> out;
    for (const KeyedRow& r : rows(view)) out[std::string(r.key())] = std::string(r.bytes());
    return out;
  }
  int unforeseen() const { return unforeseen_; }
  const std::set<std::string>& prefetched_values() const { return prefetched_values_; }

 private:
  std::set<std::pair<int, std::string>> prefetched_;
  std::set<std::pair<int, std::string>> written_;
  std::set<std::string> prefetched_values_;  // "view:last key value"
  int unforeseen_ = 0;
};

// Gate state as a store would hold it: k3 and o1 were applied up to sequence 5 by an earlier run.
struct StoredStates {
  int single_reads = 0;
  std::vector<std::vector<std::string>> batched_reads;

  std::optional<store::KeyState> Get(const std::string& key) const {
    if (key == "k3" || key == "o1") return store::KeyState{key, 5, 0};
    return std::nullopt;
  }
  StateLoader Loader() {
    StateLoader loader;
    loader.key_state = [this](const std::string& key) {
      ++single_reads;
      return absl::StatusOr<std::optional<store::KeyState>>(Get(key));
    };
    loader.key_states = [this](const std::vector<std::string>& keys) {
      batched_reads.push_back(keys);
      std::vector<store::KeyState> found;
      for (const std::string& key : keys) {
        if (auto s = Get(key)) found.push_back(*s);
      }
      return absl::StatusOr<std::vector<store::KeyState>>(found);
    };
    return loader;
  }
};

// A config parsed and compiled.
struct Compiled {
  explicit Compiled(const char* yaml) {
    absl::StatusOr<config::Config> parsed = config::ParseConfig(yaml, "test.yaml");
    if (!parsed.ok()) {
      status = parsed.status();
      return;
    }
    config = *std::move(parsed);
    absl::StatusOr<std::unique_ptr<projection::Catalog>> compiled = projection::Compile(config);
    if (!compiled.ok()) {
      status = compiled.status();
      return;
    }
    catalog = *std::move(compiled);
  }
  bool ok() const { return status.ok(); }
  std::string error() const { return status.ToString(); }

  absl::Status status;
  config::Config config;
  std::unique_ptr<projection::Catalog> catalog;
};

std::vector<const source::SourceRecord*> PointersTo(
    const std::vector<source::SourceRecord>& records) {
  std::vector<const source::SourceRecord*> out;
  out.reserve(records.size());
  for (const source::SourceRecord& r : records) out.push_back(&r);
  return out;
}

std::vector<source::SourceRecord> Records() {
  std::vector<source::SourceRecord> out;
  auto add = [&](std::string value) {
    source::SourceRecord& r = out.emplace_back();
    r.offset = static_cast<int64_t>(out.size());
    r.value = std::move(value);
  };
  // Ten keys interleaved, three events each; k3's sequences start at 5 (5 was applied before).
  for (int step = 0; step < 3; ++step) {
    for (int k = 0; k < 10; ++k) {
      const int seq = (k == 3 ? 5 : 1) + step;
      const std::string id = absl::StrCat("k", k);
      if (step == 0) {
        add(absl::StrCat(R"({"type":"Set","id":")", id, R"(","seq":)", seq, R"(,"value":)", k * 10,
                         "}"));
      } else {
        add(absl::StrCat(R"({"type":"Tag","id":")", id, R"(","seq":)", seq, R"(,"tag":"t)", step,
                         "\"}"));
      }
    }
    if (step == 1) add("not json");  // a dead letter, foreseen by nobody
  }
  return out;
}

TEST(PrefetchTest, TheApplyReadsOnlyWhatThePrefetchReadAndEndsAsWithout) {
  const Compiled compiled(kConfig);
  ASSERT_TRUE(compiled.ok()) << compiled.error();
  const projection::Catalog* catalog = compiled.catalog.get();
  const config::GateConfig& gate = compiled.config.gate;
  const std::vector<source::SourceRecord> records = Records();

  StoredStates ahead_states;
  WatchedRows ahead_rows;
  Processor ahead(catalog, 0, gate, &ahead_rows, ahead_states.Loader());
  ahead.set_prefetch(true);
  ASSERT_TRUE(ahead.Prefetch(PointersTo(records)).ok());
  for (const source::SourceRecord& r : records) ASSERT_TRUE(ahead.Process(r).ok());

  StoredStates met_states;
  WatchedRows met_rows;
  Processor met(catalog, 0, gate, &met_rows, met_states.Loader());
  for (const source::SourceRecord& r : records) ASSERT_TRUE(met.Process(r).ok());

  // One read of the ten keys' states, none after; every row read was prefetched.
  std::vector<std::string> keys(10);
  for (int k = 0; k < 10; ++k) keys[k] = absl::StrCat("k", k);
  ASSERT_EQ(ahead_states.batched_reads.size(), 1u);
  std::vector<std::string> asked = ahead_states.batched_reads[0];
  std::sort(asked.begin(), asked.end());
  EXPECT_EQ(asked, keys);
  EXPECT_EQ(ahead_states.single_reads, 0);
  EXPECT_EQ(ahead_rows.unforeseen(), 0);
  std::set<std::string> expected_rows;
  for (const std::string& k : keys) {
    expected_rows.insert("0:" + k);
    expected_rows.insert("1:t1");
    expected_rows.insert("1:t2");
  }
  EXPECT_EQ(ahead_rows.prefetched_values(), expected_rows);
  // The oracle read each key when met (10 gate states) and never in a batch.
  EXPECT_EQ(met_states.single_reads, 10);
  EXPECT_TRUE(met_states.batched_reads.empty());
  EXPECT_GT(met_rows.unforeseen(), 0);

  // Same rows, gate states and outcomes.
  for (int v = 0; v < 2; ++v) EXPECT_EQ(ahead_rows.Dump(v), met_rows.Dump(v)) << "view " << v;
  EXPECT_EQ(ahead_rows.Dump(0).size(), 9u) << "k3's Set came at sequence 5, applied before";
  EXPECT_EQ(ahead_rows.Dump(1).size(), 20u);
  ahead.MaterializeCounters();
  met.MaterializeCounters();
  EXPECT_EQ(ahead.changes().counters, met.changes().counters);
  EXPECT_EQ(ahead.changes().counters.at("s/applied_total"), 29);
  EXPECT_EQ(ahead.changes().counters.at("s/duplicates_total"), 1)
      << "k3's sequence 5, applied before";
  ASSERT_EQ(ahead.changes().dead_letters.size(), 1u);
  std::map<std::string, int64_t> ahead_sequences, met_sequences;
  for (const auto& [k, s] : ahead.changes().key_states) ahead_sequences[k] = s.last_sequence;
  for (const auto& [k, s] : met.changes().key_states) met_sequences[k] = s.last_sequence;
  EXPECT_EQ(ahead_sequences, met_sequences);
  EXPECT_EQ(ahead_sequences.at("k3"), 7);
}

// A key computed from another view's row (a line numbered by its order's item count): the first
// pass cannot know it for a row the set does not hold; the second, after that row was read,
// does.
TEST(PrefetchTest, AKeyFromAnotherViewsRowIsFoundInASecondPass) {
  constexpr char kLines[] = R"(
store: {kind: memory}
sources:
  s: {kind: log, key: id, type: type, sequence: {field: seq}, event_types: [Add]}
views:
  orders:
    source: s
    key: [id]
    columns: {id: text, items: {type: integer, default: 0}}
    on:
      Add: {set: {id: e.id, items: items + 1}}
  lines:
    source: s
    key: [id, line]
    columns: {id: text, line: integer, sku: text}
    on:
      Add: {set: {id: e.id, line: orders.items, sku: e.sku}}
)";
  const Compiled compiled(kLines);
  ASSERT_TRUE(compiled.ok()) << compiled.error();
  const projection::Catalog* catalog = compiled.catalog.get();
  const config::GateConfig& gate = compiled.config.gate;
  // o1 has 5 items from before; o2 is new. Two items each in this poll.
  std::vector<source::SourceRecord> records;
  for (int i = 0; i < 4; ++i) {
    source::SourceRecord& r = records.emplace_back();
    r.offset = i + 1;
    const int order = i % 2 + 1;
    const int seq = (order == 1 ? 6 : 1) + i / 2;
    r.value = absl::StrCat(R"({"type":"Add","id":"o)", order, R"(","seq":)", seq, R"(,"sku":"s)", i,
                           "\"}");
  }
  auto run = [&](bool prefetch, WatchedRows* rows, StoredStates* states) {
    Value id = Value::Text("o1");
    std::string key;
    EncodeKey(&id, 1, &key);
    rows->Preload(0, key, {id, Value::Int(5)});
    Processor processor(catalog, 0, gate, rows, states->Loader());
    processor.set_prefetch(prefetch);
    ASSERT_TRUE(processor.Prefetch(PointersTo(records)).ok());
    for (const source::SourceRecord& r : records) ASSERT_TRUE(processor.Process(r).ok());
    EXPECT_TRUE(processor.changes().dead_letters.empty());
  };
  StoredStates ahead_states, met_states;
  WatchedRows ahead(2), met(2);
  run(true, &ahead, &ahead_states);
  run(false, &met, &met_states);
  EXPECT_EQ(ahead.unforeseen(), 0);
  EXPECT_EQ(ahead.prefetched_values(),
            (std::set<std::string>{"0:o1", "0:o2", "1:1", "1:2", "1:6", "1:7"}))
      << "o1's lines 6 and 7 are known from its row, read in the first pass; 1 and 2 are o2's "
         "(and o1's first guesses)";
  for (int v = 0; v < 2; ++v) EXPECT_EQ(ahead.Dump(v), met.Dump(v)) << "view " << v;
  EXPECT_EQ(ahead.Dump(1).size(), 4u);
}

TEST(PrefetchTest, OffItReadsNothingAhead) {
  const Compiled compiled(kConfig);
  ASSERT_TRUE(compiled.ok()) << compiled.error();
  const projection::Catalog* catalog = compiled.catalog.get();
  const config::GateConfig& gate = compiled.config.gate;
  const std::vector<source::SourceRecord> records = Records();
  StoredStates states;
  WatchedRows rows;
  Processor processor(catalog, 0, gate, &rows, states.Loader());
  ASSERT_TRUE(processor.Prefetch(PointersTo(records)).ok());
  EXPECT_TRUE(states.batched_reads.empty());
  EXPECT_TRUE(rows.prefetched_values().empty());
}

}  // namespace
}  // namespace sv::engine
