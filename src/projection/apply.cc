#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "projection/projection.h"

namespace sv::projection {
namespace {

// The fields the event's source did not resend (kUnchangedHeader), or nullptr.
const std::string* UnchangedFields(const EventInput& event) {
  if (event.headers == nullptr) return nullptr;
  for (const auto& [name, value] : *event.headers) {
    if (name == kUnchangedHeader) return &value;
  }
  return nullptr;
}

bool IsListed(const std::string& list, const std::string& field) {
  if (field.empty()) return false;
  for (size_t start = 0; start <= list.size();) {
    const size_t end = std::min(list.find(',', start), list.size());
    if (list.compare(start, end - start, field) == 0) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

absl::StatusOr<const Row*> Applier::Lookup(int view, const std::string& key, const Row& key_values,
                                           RowSet* rows) {
  for (auto it = staged_.rbegin(); it != staged_.rend(); ++it) {
    if (it->view == view && it->key == key) return it->erase ? nullptr : &it->row;
  }
  return rows->Find(view, key, key_values);
}

absl::Status Applier::Apply(EventInput& event, RowSet* rows) {
  staged_.clear();
  view_rows_.assign(catalog_->views.size(), nullptr);
  sql::EvalContext ctx;
  ctx.event = event.value;
  ctx.meta = event.meta;
  ctx.headers = event.headers;
  ctx.view_rows = view_rows_.data();
  for (int v : catalog_->sources[event.source].views) {
    const ViewPlan& view = catalog_->views[v];
    if (event.type_id < 0 || static_cast<size_t>(event.type_id) >= view.handlers.size()) continue;
    const HandlerPlan* handler = view.handlers[event.type_id].get();
    if (handler == nullptr) continue;
    absl::Status s = ApplyHandler(v, *handler, event, ctx, rows);
    if (!s.ok()) {
      staged_.clear();
      return absl::Status(s.code(), absl::StrCat(view.name, ": ", s.message()));
    }
  }
  for (Staged& st : staged_) {
    if (!write_mask_.empty() && !write_mask_[st.view]) continue;
    if (st.erase) {
      rows->Erase(st.view, st.key);
    } else {
      rows->Put(st.view, st.key, std::move(st.row));
    }
  }
  staged_.clear();
  return absl::OkStatus();
}

absl::Status Applier::ApplyHandler(int v, const HandlerPlan& handler, EventInput& event,
                                   sql::EvalContext& ctx, RowSet* rows) {
  const ViewPlan& view = catalog_->views[v];
  Value& ordinality = event.meta[static_cast<int>(sql::MetaField::kOrdinality)];
  const std::string* unchanged = UnchangedFields(event);

  // One row per element for explode handlers; one row otherwise.
  simdjson::dom::array elements;
  size_t count = 1;
  if (handler.explode) {
    simdjson::dom::element array;
    SV_RETURN_IF_ERROR(handler.explode->EvalJson(ctx, &array));
    if (array.is_null()) return absl::OkStatus();
    if (!array.is_array()) return absl::InvalidArgumentError("explode: the field is not an array");
    elements = array.get_array().value_unsafe();
    count = elements.size();
  }
  auto element_it = handler.explode ? elements.begin() : simdjson::dom::array::iterator();
  Row key_values(view.key.size());
  for (size_t n = 0; n < count; ++n) {
    if (handler.explode) {
      ctx.elements[0] = *element_it;
      ++element_it;
      ordinality = Value::Int(static_cast<int64_t>(n) + 1);
    }
    ctx.row = nullptr;
    for (size_t k = 0; k < handler.key_sets.size(); ++k) {
      const auto& [column, expr] = handler.key_sets[k];
      Value value;
      SV_RETURN_IF_ERROR(expr->Eval(ctx, &value));
      SV_RETURN_IF_ERROR(sql::CoerceTo(view.columns[column].type, &value));
      if (value.is_null()) {
        return absl::InvalidArgumentError(
            absl::StrCat("key column '", view.columns[column].name, "' evaluated to NULL"));
      }
      for (size_t i = 0; i < view.key.size(); ++i) {
        if (view.key[i] == column) key_values[i] = std::move(value);
      }
    }
    key_buf_.clear();
    EncodeKey(key_values.data(), key_values.size(), &key_buf_);
    SV_ASSIGN_OR_RETURN(const Row* current, Lookup(v, key_buf_, key_values, rows));
    if (current == nullptr) {
      // A new row: expressions read the column defaults (and the key just computed).
      fresh_.clear();
      for (const ColumnPlan& c : view.columns) fresh_.push_back(c.default_value);
      for (size_t i = 0; i < view.key.size(); ++i) fresh_[view.key[i]] = key_values[i];
    }
    ctx.row = current != nullptr ? current : &fresh_;
    if (handler.when) {
      Value cond;
      SV_RETURN_IF_ERROR(handler.when->Eval(ctx, &cond));
      if (cond.type() != Type::kBool || !cond.as_bool()) continue;
    }
    if (handler.delete_row) {
      staged_.push_back({v, key_buf_, true, Row()});
      view_rows_[v] = nullptr;
      continue;
    }
    Row next = *ctx.row;
    if (current != nullptr) {
      for (size_t i = 0; i < view.key.size(); ++i) next[view.key[i]] = key_values[i];
    }
    for (size_t i = 0; i < handler.value_sets.size(); ++i) {
      const auto& [column, expr] = handler.value_sets[i];
      if (unchanged != nullptr && current != nullptr &&
          IsListed(*unchanged, handler.value_fields[i])) {
        continue;  // the source did not resend this field: the row keeps its value
      }
      Value value;
      SV_RETURN_IF_ERROR(expr->Eval(ctx, &value));
      absl::Status s = sql::CoerceTo(view.columns[column].type, &value);
      if (!s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("column ", view.columns[column].name, ": ", s.message()));
      }
      next[column] = std::move(value);
    }
    staged_.push_back({v, key_buf_, false, std::move(next)});
    view_rows_[v] = &staged_.back().row;
  }
  if (handler.explode) ordinality = Value();
  return absl::OkStatus();
}

}  // namespace sv::projection
