#pragma once
// Keeps every derived view of a catalog equal to its SELECT as the rows of the views it reads
// change. Every row change is a retraction of the old row and an insertion of the new one:
// through the join (both sides indexed by join key), the WHERE filter and the group's
// aggregates. Changed output rows are handed to the caller's writer in the same batch as the
// upstream change, and flow on into derived views that read them.
//
// State lives in memory and is a function of the input views' rows: Load computes it from the
// store; after a failed batch the engine calls Load again (the store is the truth).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/value.h"
#include "projection/projection.h"
#include "sql/expr.h"

namespace sv::derived {

class Maintainer {
 public:
  explicit Maintainer(const projection::Catalog* catalog);
  ~Maintainer();
  Maintainer(const Maintainer&) = delete;
  Maintainer& operator=(const Maintainer&) = delete;

  // Some incrementally maintained derived view reads `view`.
  bool Reads(int view) const;
  bool empty() const;

  // One row change of a view: old (nullptr = inserted) → new (nullptr = deleted).
  void OnChange(int view, const Row* old_row, const Row* new_row);

  // Computes the rows of derived views whose groups changed since the last Flush, in
  // dependency order, and calls write(view, old, new) for each row that differs from what the
  // store holds (old nullptr = insert, new nullptr = delete). A write error stops the flush;
  // the state is then ahead of the store and must be reloaded.
  using Writer = std::function<absl::Status(int view, const Row* old_row, const Row* new_row)>;
  absl::Status Flush(const Writer& write);

  // Recomputes the derived views in `views` (all when empty) and the ones that read them,
  // from scratch: scan(view, each) must call `each` for every row of an input view. The
  // computed rows are taken as what the store holds.
  using Scanner =
      std::function<absl::Status(int view, const std::function<void(const Row&)>& each)>;
  absl::Status Load(const Scanner& scan, const std::vector<int>& views = {});
  // Load in steps, for inputs whose rows stream by anyway (a rebuild's bulk write): BeginLoad
  // resets the views; LoadRow feeds one row of an input view (from one thread at a time); at
  // FinishLoad the inputs that were not fed are scanned and the outputs computed.
  void BeginLoad(const std::vector<int>& views);
  void LoadRow(int view, const Row& row);
  absl::Status FinishLoad(const Scanner& scan);

  // The rows of a derived view as computed (any order).
  void ForEachRow(int view, const std::function<void(const Row&)>& each) const;

  // ---- The clock of time-relative ("timed") views, those comparing rows with now() (timers.cc).
  // Every state is as computed at now(): each input tuple's contribution is its evaluation
  // with now() reading this clock.
  int64_t now() const { return now_; }
  // Sets the clock a following Load computes at (the one the store's rows were written at).
  void SetClock(int64_t now_us) { now_ = now_us; }
  // Moves the clock to `t` (nothing when t <= now()): exactly the input tuples of timed views
  // whose next flip time is <= t are retracted and contributed again at t; the next Flush
  // writes the rows that changed (and carries them on to the views that read them).
  void AdvanceClock(int64_t t);
  // The earliest flip time still to come, over every timed view; nullopt when none.
  std::optional<int64_t> NextDeadline() const;
  // Some maintained view reads the clock.
  bool timed() const;
  // Tuples re-evaluated by AdvanceClock since construction (a test's measure of a tick's work).
  int64_t timer_pops() const { return timer_pops_; }

  // Expression errors met while maintaining since the last call, by view (a value that failed
  // to evaluate reads as NULL; each is logged with its view and key).
  std::map<int, int64_t> TakeErrors();

 private:
  struct State;
  struct Contribution;
  State* StateOf(int view) const;
  void Feed(int view, int side, const Row* old_row, const Row* new_row);
  void Evaluate(State& st, const Row& tuple, Contribution* out);
  void ExpressionError(const State& st, std::string_view key, const absl::Status& status);
  Value EvalOr(const State& st, const sql::Expr& expr, sql::EvalContext& ctx,
               const std::function<std::string()>& key);
  bool IsTrue(const State& st, const sql::Expr& expr, sql::EvalContext& ctx,
              const std::function<std::string()>& key);
  void Apply(State& st, int sign, const Contribution& c);
  // The first flip time after now() of a timed view's tuple, or kNoDeadline.
  int64_t NextFlip(const State& st, sql::EvalContext& ctx);
  // Keeps the timer of a tuple contributed (+1) or retracted (-1) at its deadline.
  void Track(State& st, int sign, const Row& tuple, int64_t deadline);
  void Contribute(State& st, int sign, const Row& tuple);
  // One input tuple replaced by another (either may be null), skipped when nothing this view
  // reads changed.
  void Replace(State& st, const Row* old_tuple, const Row* new_tuple);

  std::vector<std::unique_ptr<State>> states_;  // by view; null for non-derived views
  // consumers_[view]: (derived view, side) pairs that read it.
  std::vector<std::vector<std::pair<int, int>>> consumers_;
  std::map<int, int64_t> errors_;  // by view, since TakeErrors
  std::vector<bool> loading_;      // between BeginLoad and FinishLoad: the views being computed
  std::vector<bool> fed_;          // inputs fed by LoadRow
  int64_t now_ = 0;                // µs since the epoch: what now() reads
  int64_t timer_pops_ = 0;
};

}  // namespace sv::derived
