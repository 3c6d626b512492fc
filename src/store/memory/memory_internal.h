#pragma once
// The memory store's classes, shared by memory_store.cc (the Store) and memory_batch.cc (the
// Batch); see memory_store.h for what the backend promises.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "store/memory/memory_state.h"
#include "store/memory/memory_store.h"
#include "store/store.h"

namespace sv::store::memory {

inline constexpr char kNoSql[] = "the memory store cannot run SQL; use sqlite";

struct Database {
  std::string name;
  std::shared_mutex mu;  // guards everything below
  bool initialized = false;
  bool engine_held = false;
  std::vector<LogRecord> log;  // log[i].position == i + 1
  LogStore::LogOrgIndexMark log_org_mark;
  std::map<std::string, std::set<std::string>> log_org_keys;  // organization -> keys
  State state;
  std::atomic<int64_t> last_dead_letter_id{0};
};

absl::Status NoTable(const std::string& name);
// `row` as `table` stores it (values coerced to the column types) with its encoded key;
// InvalidArgument for a row of the wrong size or with a NULL key value.
absl::StatusOr<std::pair<std::string, Row>> Stored(const Table& table, const Row& row,
                                                   absl::string_view what);
// The encoded key of `key` (values of the key columns, in order) in `table`.
absl::StatusOr<std::string> KeyOf(const Table& table, const Row& key, absl::string_view what);

class MemoryStore;

class MemoryBatch : public Batch {
 public:
  explicit MemoryBatch(MemoryStore* store) : store_(store) {}
  ~MemoryBatch() override { Release(); }

  absl::Status Upsert(const TableSpec& table, const Row& row) override;
  absl::Status Delete(const TableSpec& table, const Row& key) override;
  absl::Status PutKeyState(const std::string& source, const KeyState& state) override;
  absl::Status PutPending(const std::string& source, const PendingEvent& event) override;
  absl::Status DeletePending(const std::string& source, int32_t partition,
                             int64_t position) override;
  absl::Status AddDeadLetter(DeadLetter* dl) override;
  absl::Status SetDeadLetterState(int64_t id, DeadLetterState state) override;
  absl::Status AddDeadLetterOutbox(int64_t id) override;
  absl::Status PutEventId(const std::string& source, const std::string& event_id,
                          int64_t position) override;
  absl::Status PruneEventIds(const std::string& source, int64_t below) override;
  absl::Status AddCounters(const std::map<std::string, int64_t>& deltas) override;
  absl::Status SetPosition(const std::string& source, int32_t partition, int64_t position) override;
  absl::Status ActivateVersion(const std::string& view, int64_t version,
                               const std::string& table) override;
  absl::Status ReplaceWithSelect(const TableSpec& table, const std::string& select_sql) override;
  absl::Status ClearSourceState(const std::string& source) override;
  absl::Status Commit() override;

  const Delta& delta() const { return delta_; }

 private:
  // Checks that the batch may write and makes it its store's open batch.
  absl::Status Begin();
  void Release();
  // The changes to the table `table` names, found when the batch first writes to it.
  absl::StatusOr<Delta::TableChanges*> ChangesOf(const TableSpec& table);

  MemoryStore* store_;
  Delta delta_;
  bool begun_ = false;
  bool finished_ = false;
  absl::Status broken_;  // a failure that must fail the commit
};

class MemoryStore : public Store {
 public:
  MemoryStore(std::shared_ptr<Database> db, MemoryOptions options)
      : db_(std::move(db)), options_(std::move(options)) {}
  ~MemoryStore() override {
    if (!options_.engine_lock) return;
    std::unique_lock lock(db_->mu);
    db_->engine_held = false;
  }

  absl::Status Init() override;
  absl::StatusOr<int64_t> AppendLog(std::vector<LogRecord>* records) override;
  absl::Status ReadLog(int64_t after, size_t max, std::vector<LogRecord>* out) override;
  absl::StatusOr<int64_t> LogEnd() override;
  absl::StatusOr<LogOrgIndexMark> GetLogOrgIndexMark() override;
  absl::Status AddToLogOrgIndex(
      const LogOrgIndexMark& mark, bool restart,
      const std::vector<std::pair<std::string, std::string>>& org_keys) override;
  absl::StatusOr<std::vector<int64_t>> LogPositionsOfOrganization(const std::string& organization,
                                                                  int64_t until) override;
  absl::StatusOr<std::vector<int64_t>> LogPositionsOfKey(const std::string& key,
                                                         int64_t until) override;
  absl::Status ReadLogAt(const std::vector<int64_t>& positions,
                         std::vector<LogRecord>* out) override;
  absl::Status CreateTable(const TableSpec& table) override;
  absl::Status DropTable(const std::string& table) override;
  absl::StatusOr<std::vector<ViewVersion>> ListViewVersions() override;
  absl::Status RecordViewVersion(const ViewVersion& version) override;
  absl::Status DropViewVersion(const ViewVersion& version) override;
  absl::Status ActivateVersion(const std::string& view, int64_t version,
                               const std::string& table) override;
  absl::Status BulkInsert(const TableSpec& table,
                          const std::function<const Row*()>& next_row) override;
  absl::StatusOr<std::optional<Row>> GetRow(const TableSpec& table, const Row& key) override;
  absl::StatusOr<std::optional<KeyState>> GetKeyState(const std::string& source,
                                                      const std::string& key) override;
  absl::StatusOr<std::vector<std::string>> ListParkedKeys(const std::string& source) override;
  absl::StatusOr<std::vector<PendingEvent>> GetPending(const std::string& source,
                                                       const std::string& key) override;
  absl::StatusOr<std::vector<PendingEvent>> ListPending(const std::string& source) override;
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> LoadEventIds(
      const std::string& source) override;
  absl::StatusOr<std::map<int32_t, int64_t>> GetPositions(const std::string& source) override;
  absl::StatusOr<std::map<std::string, int64_t>> GetCounters() override;
  absl::StatusOr<std::vector<DeadLetter>> ListDeadLetters(bool only_open) override;
  absl::StatusOr<std::optional<DeadLetter>> GetDeadLetter(int64_t id) override;
  absl::StatusOr<std::vector<DeadLetter>> ListDeadLetterOutbox(const std::string& source) override;
  absl::Status DeleteDeadLetterOutbox(const std::vector<int64_t>& ids) override;
  absl::StatusOr<std::vector<Row>> QueryView(const TableSpec& table,
                                             const ViewQuery& query) override;
  absl::StatusOr<std::map<std::pair<std::string, int32_t>, int64_t>> AllPositions() override;
  absl::Status ScanTable(const TableSpec& table,
                         const std::function<void(const Row&)>& each) override;
  absl::Status QuerySelect(const std::string&, const std::vector<ColumnSpec>&,
                           const std::function<void(const Row&)>&) override {
    return absl::UnimplementedError(kNoSql);
  }
  std::unique_ptr<Batch> BeginBatch() override { return std::make_unique<MemoryBatch>(this); }

  Database& db() { return *db_; }
  const MemoryOptions& options() const { return options_; }
  MemoryBatch* open_batch = nullptr;  // the batch with uncommitted changes, if any

  absl::Status Writable() const {
    if (!options_.read_only) return absl::OkStatus();
    return absl::FailedPreconditionError("memory: read-only store");
  }

  // fn(const State&) over the committed state, seen with this store's open batch's changes.
  template <typename F>
  auto Read(F&& fn) {
    std::shared_lock lock(db_->mu);
    if (open_batch == nullptr || open_batch->delta().empty()) {
      return fn(static_cast<const State&>(db_->state));
    }
    State merged = db_->state;
    (void)memory::Apply(open_batch->delta(), &merged, /*copy_tables=*/true);
    return fn(static_cast<const State&>(merged));
  }

  // fn(State&) under the exclusive lock, for changes outside batches.
  template <typename F>
  absl::Status Write(F&& fn) {
    SV_RETURN_IF_ERROR(Writable());
    std::unique_lock lock(db_->mu);
    return fn(db_->state);
  }

 private:
  // The rows of the table `table` names (a view's active one), as `table`'s columns, in key
  // order: a copy, so that the caller works outside the lock.
  absl::StatusOr<std::vector<Row>> AllRows(const TableSpec& table);

  std::shared_ptr<Database> db_;
  MemoryOptions options_;
};

}  // namespace sv::store::memory
