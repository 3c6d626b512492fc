// A tenant rebuild of views fed by the embedded log reads only the records of the organization's
// keys, where that gives the same rows of the organization as the whole log does.
//
// It does when (LogOrgIndexProblem) every view of the source keeps each key's rows apart (its
// key columns set from the routing key: ViewPlan::partition_local) and no handler reads another
// view's row, so a fold of some keys' records makes exactly those keys' rows; and each rebuilt
// view's tenant column is set only from the source's `organization:` field, or left as it is
// with no default, so a row of organization o belongs to a key some record of which named o.
// The index (store::LogStore::AddToLogOrgIndex) holds those (organization, key) pairs; each
// rebuild first brings it up to the fold's end from the records past its mark (the first one
// reads the whole log once), then reads the organization's keys' records by position.
//
// Two properties of the records make the folds equal, and the catch-up checks both as it reads:
// each record's stored key (its routing key, read at ingest) is the key it decodes to, and no
// event id repeats under another key within the gate's dedup window (the whole log's fold drops
// the repeat; a fold of its key alone would apply it). A log that breaks either is marked so
// (through < 0) and read whole by every tenant rebuild after, with the reason said.

#include <algorithm>
#include <limits>
#include <mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/thread_boundary.h"
#include "engine/decoder.h"
#include "engine/engine.h"

namespace sv::engine {
namespace {

constexpr size_t kScanPage = 16'384;         // records read per page by the catch-up
constexpr size_t kPairsPerCommit = 200'000;  // index pairs written per transaction, at most
// How often the keeper looks for records past the index's mark, and how many it reads then at
// most: a log indexed for the first time is read beside the loop at a bounded pace.
constexpr std::chrono::milliseconds kKeeperEvery{1'000};
constexpr int64_t kKeeperRecordsPerTurn = 200'000;

// Serializes the catch-ups of the keeper and of a rebuild's fold (one engine per store), and a
// fold's read of the organization's positions after its catch-up: a catch-up that starts the
// index again (a changed field) never runs between them.
std::mutex& IndexMutex() {
  static std::mutex mu;
  return mu;
}

// The records of one organization's keys, read by position.
class OrganizationReplay : public source::ReplayReader {
 public:
  OrganizationReplay(store::LogStore* log, std::vector<int64_t> positions, int64_t end)
      : log_(log), positions_(std::move(positions)), end_(end) {}

  absl::Status Next(size_t max, std::vector<source::SourceRecord>* out) override {
    out->clear();
    if (next_ >= positions_.size()) return absl::OkStatus();
    const size_t n = std::min(max, positions_.size() - next_);
    const std::vector<int64_t> page(positions_.begin() + static_cast<std::ptrdiff_t>(next_),
                                    positions_.begin() + static_cast<std::ptrdiff_t>(next_ + n));
    SV_RETURN_IF_ERROR(log_->ReadLogAt(page, &records_));
    next_ += n;
    out->reserve(records_.size());
    for (store::LogRecord& lr : records_) {
      source::SourceRecord& r = out->emplace_back();
      r.offset = lr.position;
      r.log_time_us = lr.log_time_us;
      r.value = std::move(lr.raw);
      r.routing_key = std::move(lr.key);
    }
    return absl::OkStatus();
  }
  std::map<int32_t, int64_t> Ends() const override { return {{0, end_}}; }
  int64_t EstimatedRecords() const override { return static_cast<int64_t>(positions_.size()); }

 private:
  store::LogStore* log_;
  std::vector<int64_t> positions_;
  int64_t end_;
  size_t next_ = 0;
  std::vector<store::LogRecord> records_;
};

bool SetsColumn(const projection::HandlerPlan& h, int column) {
  for (const auto& [c, expr] : h.key_sets) {
    if (c == column) return true;
  }
  for (const auto& [c, expr] : h.value_sets) {
    if (c == column) return true;
  }
  return false;
}

// Reads the log past the index's mark up to `through` (at most `max_records` of it), adding the
// (organization, key) pairs its records name. Returns "" when the index covers the log through
// where it read, else why it cannot. `scan` carries the event ids of the last dedup window
// from one call to the next (the keeper's); without it, or when the mark moved meanwhile, that
// window before the mark is read again.
absl::StatusOr<std::string> CatchUpIndex(const projection::SourcePlan& source, int64_t dedup_window,
                                         store::Store& writer, int64_t through,
                                         IndexScanState* scan, int64_t max_records) {
  const std::string& field = source.config.organization_field;
  SV_ASSIGN_OR_RETURN(store::LogStore::LogOrgIndexMark mark, writer.GetLogOrgIndexMark());
  bool restart = mark.field != field;
  if (!restart && mark.through < 0) {
    return absl::StrCat("the log broke the index's rules at position ", -mark.through);
  }
  const int64_t from = restart ? 0 : mark.through;
  if (from >= through) return std::string();
  if (through - from > max_records) through = from + max_records;
  // Read from a dedup window before the mark: an id repeated across the mark is seen too.
  auto& ids = scan->ids;  // id -> key, position
  int64_t after = from;
  if (scan->through != from) {
    ids.clear();
    after = std::max<int64_t>(0, from - dedup_window);
  }
  scan->through = -1;  // until this call ends well
  Decoder decoder(&source, DecodeScope::kKeyOnly);
  absl::flat_hash_set<std::pair<std::string, std::string>> pairs;
  std::vector<store::LogRecord> page;
  source::SourceRecord record;
  DecodedEvent ev;
  std::string reason, broken;
  int64_t broken_at = 0;
  auto flush = [&](int64_t to) -> absl::Status {
    std::vector<std::pair<std::string, std::string>> batch(pairs.begin(), pairs.end());
    SV_RETURN_IF_ERROR(writer.AddToLogOrgIndex({field, to}, restart, batch));
    restart = false;
    pairs.clear();
    return absl::OkStatus();
  };
  while (after < through && broken.empty()) {
    SV_RETURN_IF_ERROR(writer.ReadLog(after, kScanPage, &page));
    if (page.empty()) break;
    for (const store::LogRecord& lr : page) {
      if (lr.position > through) break;
      after = lr.position;
      record.value = lr.raw;
      const bool decoded = decoder.Decode(record, &ev, &reason);
      if ((decoded || !ev.key.empty()) && ev.key != lr.key) {
        broken = absl::StrCat("the record at position ", lr.position, " is stored under key '",
                              lr.key, "' but its key is '", ev.key, "'");
        broken_at = lr.position;
        break;
      }
      if (decoded && !ev.event_id.empty()) {
        auto [it, added] = ids.try_emplace(ev.event_id, ev.key, lr.position);
        if (!added && it->second.first != ev.key &&
            lr.position - it->second.second <= dedup_window) {
          broken = absl::StrCat("event id '", ev.event_id, "' is used by keys '", it->second.first,
                                "' and '", ev.key, "' (positions ", it->second.second, " and ",
                                lr.position, ")");
          broken_at = lr.position;
          break;
        }
        it->second = {ev.key, lr.position};
      }
      if (lr.position > from && !ev.organization.empty()) pairs.emplace(ev.organization, ev.key);
    }
    if (ids.size() > 2 * static_cast<size_t>(std::max<int64_t>(dedup_window, 1))) {
      absl::erase_if(ids, [&](const auto& id) { return id.second.second < after - dedup_window; });
    }
    if (broken.empty() && pairs.size() >= kPairsPerCommit) SV_RETURN_IF_ERROR(flush(after));
  }
  if (!broken.empty()) {
    pairs.clear();
    restart = true;
    SV_RETURN_IF_ERROR(flush(-broken_at));
    return broken;
  }
  // Through what was read: the whole range unless the log ended before it (not expected: the
  // caller's bound is a position it saw).
  const int64_t covered = std::max(after, from);
  SV_RETURN_IF_ERROR(flush(covered));
  scan->through = covered;
  return std::string();
}

// The log position a fold job's replay ends at.
int64_t FoldEnd(const TenantJob& job) {
  auto until = job.fold_until.find(0);
  return until == job.fold_until.end() ? 0 : until->second;
}

}  // namespace

std::string LogFoldScope(const TenantJob& job) {
  return job.index_unused.empty()
             ? "the log's records of the organization's keys only (its organization index)"
             : absl::StrCat("the whole log (its organization index is not used: ", job.index_unused,
                            ")");
}

std::string LogOrgIndexProblem(const projection::Catalog& catalog, int source,
                               const std::vector<int>& views) {
  const projection::SourcePlan& plan = catalog.sources[source];
  // Only the embedded log takes `organization:` (config/parse_runtime.cc).
  const std::string& field = plan.config.organization_field;
  if (field.empty()) return absl::StrCat("source ", plan.config.name, " declares no organization:");
  for (int v : plan.views) {
    const projection::ViewPlan& view = catalog.views[v];
    if (!view.partition_local) {
      return absl::StrCat("view ", view.name, " has rows that more than one key writes");
    }
    for (const auto& h : view.handlers) {
      if (h != nullptr && h->reads_other_views) {
        return absl::StrCat("a handler of view ", view.name, " reads another view's rows");
      }
    }
  }
  for (int v : views) {
    const projection::ViewPlan& view = catalog.views[v];
    const projection::ColumnPlan& tenant = view.columns[view.tenant];
    if (!tenant.default_value.is_null()) {
      return absl::StrCat("the tenant column of view ", view.name, " has a default");
    }
    for (const auto& h : view.handlers) {
      if (h == nullptr || !SetsColumn(*h, view.tenant) || FieldOf(*h, view.tenant) == field) {
        continue;
      }
      return absl::StrCat("a handler of view ", view.name, " sets its tenant column from another ",
                          "expression than e.", field);
    }
  }
  return "";
}

LogOrgIndexKeeper::LogOrgIndexKeeper(const projection::SourcePlan* source, int64_t dedup_window,
                                     std::unique_ptr<store::Store> writer,
                                     std::chrono::milliseconds every)
    : source_(source), dedup_window_(dedup_window), writer_(std::move(writer)), every_(every) {
  thread_ = std::thread([this] { Run(); });
}

LogOrgIndexKeeper::~LogOrgIndexKeeper() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void LogOrgIndexKeeper::Run() {
  std::unique_lock lock(mu_);
  while (!wake_.wait_for(lock, every_, [this] { return stop_; })) {
    if (!loop_was_idle_.exchange(false)) continue;
    lock.unlock();
    // A failure (the store away for a moment) is tried again next time; a broken log is final.
    std::string broken;
    const absl::Status caught_up = CatchExceptions("organization index", [&]() -> absl::Status {
      SV_ASSIGN_OR_RETURN(const int64_t end, writer_->LogEnd());
      std::lock_guard index(IndexMutex());
      SV_ASSIGN_OR_RETURN(broken, CatchUpIndex(*source_, dedup_window_, *writer_, end, &scan_,
                                               kKeeperRecordsPerTurn));
      return absl::OkStatus();
    });
    lock.lock();
    if (!caught_up.ok()) {
      LogJson("warn", "the log's organization index was not brought up to date",
              {{"error", std::string(caught_up.message())}});
    } else if (!broken.empty()) {
      LogJson("warn", "the log's organization index is not used: tenant rebuilds read it whole",
              {{"why", broken}});
      return;
    }
  }
}

absl::Status Engine::StartLogOrgIndexKeeper() {
  for (const projection::SourcePlan& source : catalog_->sources) {
    if (source.config.organization_field.empty() || config_.store.shared_by_partition) continue;
    store::StoreOptions so = StoreOptionsFor(config_.store);
    if (!options_.store_path.empty()) so.path = options_.store_path;
    SV_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> writer,
                        store::OpenStore(so, store::StoreRole::kWriter));
    org_index_keeper_ = std::make_unique<LogOrgIndexKeeper>(&source, config_.gate.dedup_window,
                                                            std::move(writer), kKeeperEvery);
    return absl::OkStatus();  // a store holds one log
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<source::ReplayReader>> OpenOrganizationReplay(
    const projection::SourcePlan& source, const config::GateConfig& gate, TenantJob& job) {
  const int64_t through = FoldEnd(job);
  std::lock_guard index(IndexMutex());
  IndexScanState scan;
  SV_ASSIGN_OR_RETURN(job.index_unused,
                      CatchUpIndex(source, gate.dedup_window, *job.index_writer, through, &scan,
                                   std::numeric_limits<int64_t>::max()));
  if (!job.index_unused.empty()) return nullptr;
  if (through > 0) {
    std::vector<store::LogRecord> last;
    SV_RETURN_IF_ERROR(job.reader->ReadLogAt({through}, &last));
    job.fold_end_log_time_us = last.front().log_time_us;
  }
  SV_ASSIGN_OR_RETURN(std::vector<int64_t> positions, job.reader->LogPositionsOfOrganization(
                                                          job.request.tenant.ToString(), through));
  job.index_decoder = std::make_unique<Decoder>(&source, DecodeScope::kKeyOnly);
  return std::make_unique<OrganizationReplay>(job.reader.get(), std::move(positions), through);
}

absl::Status FoldTailRecordByIndex(TenantJob& job, const source::SourceRecord& record, bool* skip) {
  *skip = false;
  const std::string& key = record.routing_key;
  if (job.index_decoder == nullptr || key.empty() || job.index_keys.contains(key)) {
    return absl::OkStatus();
  }
  DecodedEvent ev;
  std::string reason;
  job.index_decoder->Decode(record, &ev, &reason);
  if (ev.organization != job.request.tenant.ToString()) {
    *skip = true;  // read from the log should the key join the organization later
    return absl::OkStatus();
  }
  // A key entering the organization in the tail (a new key, or one moved into it): its records
  // before this one, as the whole log's fold and the loop had them — all in the log.
  SV_ASSIGN_OR_RETURN(std::vector<int64_t> positions,
                      job.reader->LogPositionsOfKey(key, record.offset - 1));
  const int64_t fold_end = FoldEnd(job);
  job.tail_events +=
      positions.end() - std::upper_bound(positions.begin(), positions.end(), fold_end);
  job.events += static_cast<int64_t>(positions.size());
  OrganizationReplay earlier(job.reader.get(), std::move(positions), 0);
  std::vector<source::SourceRecord> page;
  while (true) {
    SV_RETURN_IF_ERROR(earlier.Next(kScanPage, &page));
    if (page.empty()) break;
    for (const source::SourceRecord& r : page) SV_RETURN_IF_ERROR(job.processor->Process(r));
  }
  job.index_keys.insert(key);
  return absl::OkStatus();
}

}  // namespace sv::engine
