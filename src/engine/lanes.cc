// Lanes: a source's keys split by hash, each share with its own processor (gate state), working
// set and read connection, so that one poll's records are processed on several cores. Records
// of one key keep their order (one lane, in poll order); every lane's changes go into the same
// transaction (Seal merges them).

#include <algorithm>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/hash/hash.h"
#include "common/status_macros.h"
#include "engine/engine.h"

namespace sv::engine {
namespace {

constexpr int kMaxAutoLanes = 4;
// Fewer records than this in a poll are processed on the loop's thread alone: a hand-off to
// the other lanes' threads costs more than it saves.
constexpr size_t kMinRecordsToShare = 256;

bool IsTruncate(const source::SourceRecord& r) {
  if (!r.routing_key.empty()) return false;  // a TRUNCATE record has no key (most have one)
  for (const auto& [name, value] : r.headers) {
    if (name == source::kTruncateHeader) return true;
  }
  return false;
}

}  // namespace

int Engine::LaneCount(int source) const {
  if (lanes_disabled_) return 1;
  int lanes = config_.engine.lanes;
  if (lanes == 0) {
    lanes = std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, kMaxAutoLanes);
  }
  // A row that more than one key can touch (say, per customer from order events) would be
  // written by two lanes at once.
  for (int v : catalog_->sources[source].views) {
    if (!catalog_->views[v].partition_local) return 1;
  }
  return lanes;
}

size_t Engine::LaneOf(const SourceState& st, const std::string& key) const {
  const size_t lanes = st.lanes.size();
  if (lanes <= 1) return 0;
  // Lane 0 runs on the loop's thread, which also polls, routes and seals: it takes one share
  // of the keys, every other lane two (2 lanes: 1/3 and 2/3).
  const size_t slot = absl::Hash<std::string>{}(key) % (2 * lanes - 1);
  return (slot + 1) / 2;
}

absl::Status Engine::StartLanes(SourceState& st) {
  const int lanes = LaneCount(st.index);
  st.lanes.clear();
  st.lanes.resize(static_cast<size_t>(lanes));
  st.router = lanes > 1
                  ? std::make_unique<Decoder>(&catalog_->sources[st.index], DecodeScope::kKeyOnly)
                  : nullptr;
  const size_t capacity =
      std::max<size_t>(1, static_cast<size_t>(config_.engine.cache_rows) / st.lanes.size());
  for (size_t i = 0; i < st.lanes.size(); ++i) {
    Lane& lane = st.lanes[i];
    if (i > 0) {
      store::StoreOptions so = StoreOptionsFor(config_.store);
      if (!options_.store_path.empty()) so.path = options_.store_path;
      SV_ASSIGN_OR_RETURN(lane.reader, store::OpenStore(so, store::StoreRole::kReader));
      lane.thread = std::make_unique<JobThread>();
    }
    lane.rows = std::make_unique<CachedRowSet>(
        lane.reader != nullptr ? lane.reader.get() : store_.get(), WriteTables(), capacity);
    WatchForDerived(*lane.rows, &lane.derived_changes);
  }
  return absl::OkStatus();
}

absl::Status Engine::ProcessLanes(SourceState& st) {
  const int64_t expire_at = st.records.back().log_time_us;
  if (st.lanes.size() == 1) {
    Processor& p = *st.lanes[0].processor;
    if (p.prefetches()) {  // off on in-process stores: no per-poll work for it there
      std::vector<const source::SourceRecord*> records;
      records.reserve(st.records.size());
      for (const source::SourceRecord& r : st.records) records.push_back(&r);
      SV_RETURN_IF_ERROR(p.Prefetch(records));
    }
    for (const source::SourceRecord& r : st.records) {
      if (IsTruncate(r)) SV_RETURN_IF_ERROR(ClearTruncated(st, r));
      SV_RETURN_IF_ERROR(p.Process(r));
    }
    return p.ExpireStashes(expire_at);
  }
  if (std::any_of(st.records.begin(), st.records.end(), IsTruncate)) {
    // Its rows are in every lane's share: the batch starts over on one lane (see RunOnce).
    one_lane_needed_ = "a TRUNCATE clears rows of every lane";
    return absl::AbortedError("a TRUNCATE clears rows of every lane: one lane from now");
  }
  for (Lane& lane : st.lanes) lane.records.clear();
  DecodedEvent ev;
  std::string reason;
  for (const source::SourceRecord& r : st.records) {
    const std::string* key = &r.routing_key;
    if (key->empty()) {
      // No key beside the record (a Kafka message without one): read it from the event.
      st.router->Decode(r, &ev, &reason);
      key = &ev.key;
    }
    st.lanes[LaneOf(st, *key)].records.push_back(&r);
  }
  auto run = [&st, expire_at](size_t i) -> absl::Status {
    Lane& lane = st.lanes[i];
    if (lane.reader != nullptr) SV_RETURN_IF_ERROR(lane.reader->BeginRead());
    absl::Cleanup end_read = [&lane] {
      if (lane.reader != nullptr) lane.reader->EndRead();
    };
    SV_RETURN_IF_ERROR(lane.processor->Prefetch(lane.records));
    for (const source::SourceRecord* r : lane.records) {
      SV_RETURN_IF_ERROR(lane.processor->Process(*r));
    }
    return lane.processor->ExpireStashes(expire_at);
  };
  absl::Status status;
  if (st.records.size() < kMinRecordsToShare) {
    for (size_t i = 0; i < st.lanes.size(); ++i) status.Update(run(i));
    return status;
  }
  for (size_t i = 1; i < st.lanes.size(); ++i) {
    st.lanes[i].thread->Submit([&run, i] { return run(i); });
  }
  status.Update(run(0));
  for (size_t i = 1; i < st.lanes.size(); ++i) status.Update(st.lanes[i].thread->Wait());
  return status;
}

bool Engine::AnyChanges() const {
  for (const SourceState& st : sources_) {
    for (const Lane& lane : st.lanes) {
      if (!lane.processor->changes().empty()) return true;
    }
  }
  return false;
}

bool Engine::Misrouted() const {
  for (const SourceState& st : sources_) {
    for (const Lane& lane : st.lanes) {
      if (lane.processor != nullptr && lane.processor->misrouted()) return true;
    }
  }
  return false;
}

void Engine::ResetRows() {
  for (SourceState& st : sources_) {
    for (Lane& lane : st.lanes) {
      lane.rows->Reset();
      lane.derived_changes.clear();
    }
  }
}

}  // namespace sv::engine
