// Source transactions larger than a poll: written into one store transaction a page at a time,
// committed with their last record (see Engine::WritePage in engine.h).

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "common/status_macros.h"
#include "engine/engine.h"
#include "store/open.h"

namespace sv::engine {
namespace {

// Test hook (TESTING.md, "Injected faults"): SV_TEST_EXIT_IN_OPEN_BATCH_AT_PAGE=N ends the
// process with _exit(9) once the Nth page of a source transaction is written into its open
// store transaction, uncommitted. Inert unless set.
void ExitInOpenBatchIfTold() {
  static const int64_t exit_at = [] {
    const char* v = std::getenv("SV_TEST_EXIT_IN_OPEN_BATCH_AT_PAGE");
    return v == nullptr ? int64_t{0} : std::atoll(v);
  }();
  static int64_t pages = 0;
  if (exit_at > 0 && ++pages == exit_at) _exit(9);
}

}  // namespace

bool Engine::MidTransaction() const {
  return std::any_of(sources_.begin(), sources_.end(),
                     [](const SourceState& st) { return st.mid_transaction; });
}

absl::Status Engine::CheckLanesForOpenBatch(const SourceState& /*st*/) {
  if (!store::TraitsOf(StoreOptionsFor(config_.store)).writes_open_batches) {
    return absl::OkStatus();
  }
  for (const SourceState& other : sources_) {
    if (other.lanes.size() > 1) {
      one_lane_needed_ = "a source transaction spans polls, and lanes cannot read its open batch";
      return absl::AbortedError(one_lane_needed_);
    }
  }
  return absl::OkStatus();
}

absl::Status Engine::WritePage() {
  // A store whose reads cannot see an open batch holds the transaction whole until its end.
  if (!store::TraitsOf(StoreOptionsFor(config_.store)).writes_open_batches) {
    return absl::OkStatus();
  }
  SV_RETURN_IF_ERROR(Drain());  // a batch written behind the loop commits first
  if (open_batch_ == nullptr) open_batch_ = store_->BeginBatch();
  Sealed page = Seal();
  absl::Status s = WriteInto(open_batch_.get(), page);
  if (s.ok()) s = open_batch_->Flush();
  if (!s.ok()) {
    derived_stale_ = true;
    return s;  // the caller recovers: the open batch is rolled back, the transaction comes again
  }
  // Only what Finish needs stays until the commit: positions, counters, dead letters. A
  // watched view's rows are not kept (the transaction may be huge): it is read afresh.
  for (const auto& [view, seen] : page.observed) open_batch_replaced_.insert(view);
  page.observed.clear();
  page.derived_changes.clear();
  for (Changes& c : page.changes) {
    c.key_states.clear();
    c.pending_put.clear();
    c.pending_deleted.clear();
    c.event_ids.clear();
    c.dead_letter_states.clear();
  }
  open_pages_.push_back(std::move(page));
  // A page's rows and the cache generations it retired are freed in many small pieces: hand
  // the freed pages back, or the heap creeps up with the transaction's size (measured peak
  // over a 2M-row transaction: 317 MiB without this, 294 MiB with it).
  malloc_trim(0);
  ExitInOpenBatchIfTold();
  return absl::OkStatus();
}

absl::Status Engine::CommitOpenBatch() {
  const auto started = std::chrono::steady_clock::now();
  Sealed last = Seal();
  absl::Status s = WriteInto(open_batch_.get(), last);
  if (s.ok()) s = open_batch_->Commit();
  open_batch_.reset();
  std::vector<Sealed> pages = std::move(open_pages_);
  open_pages_.clear();
  const std::set<int> replaced = std::move(open_batch_replaced_);
  open_batch_replaced_.clear();
  if (!s.ok()) {
    derived_stale_ = true;
    return s;
  }
  last.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (int view : replaced) {
    options_.row_observer->OnReplaced(view);
    last.observed.erase(view);
  }
  for (Sealed& page : pages) Finish(page);
  Finish(last);
  return absl::OkStatus();
}

}  // namespace sv::engine
