// A TRUNCATE from a change feed: the rows a table fed into views are gone at the source, so
// they go from the views in the same batch as the rest of the source transaction, each through
// the working set (derived views see every row leave, as for a delete).

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/engine.h"

namespace sv::engine {
namespace {

// The source's own markers, which feed no view.
bool IsMarker(const std::string& type) { return type == "snapshot.done" || type == "heartbeat"; }

}  // namespace

std::string TruncatedTable(const source::SourceRecord& record) {
  std::string table;
  for (const auto& [name, value] : record.headers) {
    if (name == source::kTruncateHeader) table = value;
  }
  return table;
}

TruncateEffect TruncateEffectOn(const projection::SourcePlan& plan,
                                const projection::ViewPlan& view, const std::string& table,
                                std::string* other_event) {
  const std::string prefix = table + ".";
  bool from_table = false;
  std::string other;
  for (size_t t = 0; t < view.handlers.size(); ++t) {
    if (view.handlers[t] == nullptr) continue;
    const std::string& type = plan.config.event_types[t];
    if (absl::StartsWith(type, prefix)) {
      from_table = true;
    } else if (!IsMarker(type) && other.empty()) {
      other = type;
    }
  }
  if (!from_table) return TruncateEffect::kNone;
  if (other.empty()) return TruncateEffect::kClears;
  if (other_event != nullptr) *other_event = other;
  return TruncateEffect::kMixed;
}

absl::Status Engine::ClearTruncated(SourceState& st, const source::SourceRecord& record) {
  const std::string table = TruncatedTable(record);
  const projection::SourcePlan& plan = catalog_->sources[st.index];
  Lane& lane = st.lanes[0];
  const std::vector<int> slots = MaintainedSlots();
  bool drained = false;
  for (int v : plan.views) {
    const projection::ViewPlan& view = catalog_->views[v];
    std::string other;
    const TruncateEffect effect = TruncateEffectOn(plan, view, table, &other);
    if (effect == TruncateEffect::kNone) continue;
    if (effect == TruncateEffect::kMixed) {
      // Which of its rows came from this table is not known: keeping them all would leave
      // rows the source no longer has, removing them all would lose the others'.
      lane.processor->DeadLetterRecord(
          record,
          absl::StrCat("TRUNCATE of ", table, ": view ", view.name,
                       " is also fed by other events (", other, "), so its rows from ", table,
                       " cannot be told apart; re-snapshot it with `streamview rebuild "
                       "--view ",
                       view.name, "`"));
      continue;
    }
    if (!drained) {
      // The rows a batch being written behind the loop holds are in the store before the scan,
      // and the scan reads a snapshot taken after them.
      SV_RETURN_IF_ERROR(Drain());
      store_->EndRead();
      SV_RETURN_IF_ERROR(store_->BeginRead());
      drained = true;
    }
    // The active version's rows, and its maintained version's (in its slot), if any.
    for (int slot : {v, slots[v]}) {
      if (slot < 0) continue;
      std::vector<std::pair<std::string, Row>> keys;
      SV_RETURN_IF_ERROR(store_->ScanTable(lane.rows->table(slot), [&](const Row& row) {
        Row key;
        for (int k : view.key) key.push_back(row[k]);
        std::string encoded;
        EncodeKey(key.data(), key.size(), &encoded);
        keys.emplace_back(std::move(encoded), std::move(key));
      }));
      lane.rows->ListCached(slot, &keys);  // rows of this batch, not in the store yet
      for (const auto& [key, key_values] : keys) {
        SV_ASSIGN_OR_RETURN(const Row* row, lane.rows->Find(slot, key, key_values));
        if (row != nullptr) lane.rows->Erase(slot, key);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace sv::engine
