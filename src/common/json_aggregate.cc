#include "common/json_aggregate.h"

#include <utility>

#include "common/json_value.h"

namespace sv {

int CompareForAggregate(const Value& a, const Value& b) {
  if (a.is_null() || b.is_null()) return a.is_null() == b.is_null() ? 0 : (a.is_null() ? 1 : -1);
  bool ok = false;
  const int c = Compare(a, b, &ok);
  if (ok) return c;
  return a.type() < b.type() ? -1 : (a.type() > b.type() ? 1 : 0);
}

bool JsonAggregate::EntryLess::operator()(const Entry& a, const Entry& b) const {
  for (size_t i = 0; i < a.order.size(); ++i) {
    int c = CompareForAggregate(a.order[i], b.order[i]);
    // DESC is the reverse of ASC NULLS LAST: NULLs first, as PostgreSQL.
    if (i < descending->size() && (*descending)[i]) c = -c;
    if (c != 0) return c < 0;
  }
  return CompareForAggregate(a.value, b.value) < 0;
}

JsonAggregate::JsonAggregate(bool object, bool distinct, std::vector<bool> descending)
    : object_(object),
      distinct_(distinct),
      descending_(std::move(descending)),
      entries_(EntryLess{&descending_}) {}

void JsonAggregate::Add(int sign, const Value* values) {
  Entry entry;
  if (object_) {
    entry.order.push_back(values[0]);
    entry.value = values[1];
  } else {
    entry.value = values[0];
    entry.order.assign(values + 1, values + 1 + descending_.size());
  }
  auto it = entries_.try_emplace(std::move(entry), 0).first;
  it->second += sign;
  if (it->second <= 0) entries_.erase(it);
}

absl::StatusOr<Value> JsonAggregate::Result() const {
  if (entries_.empty()) return Value::Null();
  if (object_) {
    JsonObjectBuilder builder;
    for (const auto& [entry, count] : entries_) {
      const Value& key = entry.order[0];
      if (key.is_null()) return absl::InvalidArgumentError("json_object_agg(): a key is NULL");
      builder.Add(key.type() == Type::kText ? key.as_text() : key.ToString(), entry.value);
    }
    return Value::Json(builder.Finish());
  }
  std::string out = "[";
  for (const auto& [entry, count] : entries_) {
    for (int64_t i = 0; i < (distinct_ ? 1 : count); ++i) {
      if (out.size() > 1) out.push_back(',');
      AppendJsonValue(entry.value, &out);
    }
  }
  out.push_back(']');
  return Value::Json(std::move(out));
}

}  // namespace sv
