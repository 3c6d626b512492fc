// Seed 000's lag per organization, for the events the gate keeps waiting (stashed behind a
// sequence gap, held behind a parked key): which organizations' rows each would change. The
// organization is inside the event (or in the row it changes), so the projections are run dry
// when the event starts waiting: over the working set, every write kept aside, nothing changed.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/processor.h"

namespace sv::engine {
namespace {

// Reads through to the working set; keeps its own writes (a later handler of the same event
// sees them) and the organizations of the tenant views' rows written or erased.
class DryRunRows final : public projection::RowSet {
 public:
  DryRunRows(const projection::Catalog* catalog, projection::RowSet* under)
      : catalog_(catalog), under_(under) {}

  absl::StatusOr<const Row*> Find(int view, const std::string& key,
                                  const Row& key_values) override {
    if (auto it = written_.find({view, key}); it != written_.end()) {
      return it->second.has_value() ? &*it->second : nullptr;
    }
    absl::StatusOr<const Row*> row = under_->Find(view, key, key_values);
    if (row.ok() && *row != nullptr) {
      if (const int tenant = catalog_->views[view].tenant; tenant >= 0) {
        found_org_[{view, key}] = (**row)[tenant];
      }
    }
    return row;
  }
  void Put(int view, const std::string& key, Row row) override {
    if (const int tenant = catalog_->views[view].tenant; tenant >= 0) Note(view, row[tenant]);
    written_[{view, key}] = std::move(row);
  }
  void Erase(int view, const std::string& key) override {
    if (auto it = found_org_.find({view, key}); it != found_org_.end()) Note(view, it->second);
    written_[{view, key}] = std::nullopt;
  }
  std::vector<std::pair<int, std::string>> TakeOrgs() { return std::move(orgs_); }

 private:
  void Note(int view, const Value& org) {
    if (org.is_null()) return;
    std::pair<int, std::string> entry{view, org.ToString()};
    for (const auto& known : orgs_) {
      if (known == entry) return;
    }
    orgs_.push_back(std::move(entry));
  }

  const projection::Catalog* catalog_;
  projection::RowSet* under_;
  std::map<std::pair<int, std::string>, std::optional<Row>> written_;  // stable addresses
  std::map<std::pair<int, std::string>, Value> found_org_;
  std::vector<std::pair<int, std::string>> orgs_;
};

}  // namespace

void Processor::NoteWaitingOrgs(const source::SourceRecord& record, const DecodedEvent& ev) {
  if (!any_tenant_view_ || ev.type_id < 0) return;
  DryRunRows dry(catalog_, rows_);
  projection::EventInput input = InputOf(record, ev);
  // Applier keeps no state between events: the dry run leaves the real one as it was. A failed
  // projection (or read) names no organization: the event still counts in the source's lag.
  projection::Applier applier(catalog_);
  if (!applier.Apply(input, &dry).ok()) return;
  std::vector<std::pair<int, std::string>> orgs = dry.TakeOrgs();
  if (orgs.empty()) return;
  waiting_orgs_[{record.partition, record.offset}] = {record.log_time_us, std::move(orgs)};
}

void Processor::AttributeRestored() {
  restored_unattributed_ = false;
  DecodedEvent ev;
  std::string reason;
  for (const store::PendingEvent& p : waiting_.All()) {
    const source::SourceRecord record = ToRecord(p);
    if (decoder_.Decode(record, &ev, &reason)) NoteWaitingOrgs(record, ev);
  }
}

void Processor::AddOrgLags(OrgLags* out) const {
  for (const auto& [position, waiting] : waiting_orgs_) {
    for (const auto& entry : waiting.orgs) {
      OrgLag& lag = (*out)[entry];
      if (lag.events == 0 || waiting.log_time_us < lag.oldest_log_time_us) {
        lag.oldest_log_time_us = waiting.log_time_us;
      }
      ++lag.events;
    }
  }
}

}  // namespace sv::engine
