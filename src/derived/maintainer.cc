#include "derived/maintainer.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/value_key.h"
#include "derived/maintainer_internal.h"
#include "sql/expr.h"

namespace sv::derived {

Maintainer::Maintainer(const projection::Catalog* catalog) {
  const size_t n = catalog->views.size();
  states_.resize(n);
  consumers_.resize(n);
  for (size_t v = 0; v < n; ++v) {
    const projection::ViewPlan& plan = catalog->views[v];
    if (plan.derived == nullptr || !plan.derived->refresh.empty()) continue;
    auto st = std::make_unique<State>();
    st->view = static_cast<int>(v);
    st->plan = &plan;
    st->derived = plan.derived.get();
    const std::vector<int>& inputs = plan.derived->inputs;
    for (size_t side = 0; side < inputs.size(); ++side) {
      const projection::ViewPlan& in = catalog->views[inputs[side]];
      (side == 0 ? st->left_width : st->right_width) = in.columns.size();
      st->side_keys[side] = in.key;
      const std::vector<bool>& reads = plan.derived->reads[side];
      if (inputs.size() == 2 && reads.size() == in.columns.size()) {
        std::vector<bool> kept = reads;
        for (int k : in.key) kept[k] = true;  // a side row's identity, and the key in log lines
        bool all = true;
        for (bool c : kept) all = all && c;
        if (!all) st->kept[side] = std::move(kept);
      }
      consumers_[inputs[side]].push_back({static_cast<int>(v), static_cast<int>(side)});
    }
    for (const projection::AggregatePlan& a : plan.derived->aggregates) {
      const int n = SimpleSlots(a);
      st->slot_offset.push_back(n > 0 ? st->slot_count : -1);
      st->slot_count += n;
    }
    states_[v] = std::move(st);
  }
}

Maintainer::~Maintainer() = default;

bool Maintainer::Reads(int view) const {
  return view >= 0 && view < static_cast<int>(consumers_.size()) && !consumers_[view].empty();
}

bool Maintainer::empty() const {
  for (const auto& st : states_) {
    if (st != nullptr) return false;
  }
  return true;
}

Maintainer::State* Maintainer::StateOf(int view) const {
  return view >= 0 && view < static_cast<int>(states_.size()) ? states_[view].get() : nullptr;
}

void Maintainer::OnChange(int view, const Row* old_row, const Row* new_row) {
  if (!Reads(view)) return;
  for (const auto& [derived, side] : consumers_[view]) Feed(derived, side, old_row, new_row);
}

namespace {

// "v1, v2" of the values at `columns` (all when empty): a row's key in a log line.
std::string KeyText(const Row& row, const std::vector<int>& columns, size_t offset = 0) {
  std::string out;
  for (int c : columns) {
    const size_t i = offset + static_cast<size_t>(c);
    if (i < row.size()) absl::StrAppend(&out, out.empty() ? "" : ", ", row[i].ToString());
  }
  return out;
}

}  // namespace

// A derived view's expression that fails on a row reads as NULL: the row follows from input
// rows already committed, so there is no event to park. It is never silent: each failure is
// logged with the view and the key it concerns and counted per view
// (streamview_derived_expression_errors_total{view}).
void Maintainer::ExpressionError(const State& st, std::string_view key,
                                 const absl::Status& status) {
  ++errors_[st.view];
  const std::string error(status.message());
  LogJson("warn", "derived view expression failed; the value reads as NULL",
          {{"view", st.plan->name}, {"key", key}, {"error", error}});
}

Value Maintainer::EvalOr(const State& st, const sql::Expr& expr, sql::EvalContext& ctx,
                         const std::function<std::string()>& key) {
  Value out;
  absl::Status s = expr.Eval(ctx, &out);
  if (!s.ok()) {
    ExpressionError(st, key(), s);
    return Value::Null();
  }
  return out;
}

bool Maintainer::IsTrue(const State& st, const sql::Expr& expr, sql::EvalContext& ctx,
                        const std::function<std::string()>& key) {
  const Value v = EvalOr(st, expr, ctx, key);
  return v.type() == Type::kBool && v.as_bool();
}

std::map<int, int64_t> Maintainer::TakeErrors() { return std::exchange(errors_, {}); }

void Maintainer::Feed(int view, int side, const Row* old_row, const Row* new_row) {
  State& st = *states_[view];
  const projection::DerivedPlan& d = *st.derived;
  if (d.inputs.size() == 1) {
    Replace(st, old_row, new_row);
    return;
  }
  // A join keeps its sides' rows in memory: only the columns the view reads, the others NULL
  // (a wide input view read for a few columns costs those few). The changed row is cut the
  // same way, so every tuple is made of cut rows whichever side changed.
  if (!st.kept[side].empty()) {
    const std::vector<bool>& kept = st.kept[side];
    auto cut = [&](const Row* row, Row* out) -> const Row* {
      if (row == nullptr) return nullptr;
      out->resize(row->size());
      for (size_t c = 0; c < row->size(); ++c) {
        (*out)[c] = c < kept.size() && !kept[c] ? Value::Null() : (*row)[c];
      }
      return out;
    };
    old_row = cut(old_row, &st.kept_old);
    new_row = cut(new_row, &st.kept_new);
  }
  // Join: this side's join key (nullopt when a part is NULL: such a row matches nothing).
  auto join_key = [&](const Row& row) -> std::optional<std::string> {
    sql::EvalContext ctx;
    ctx.row = &row;
    Row values;
    auto input_key = [&] { return KeyText(row, st.side_keys[side]); };
    for (const sql::ExprPtr& e : side == 0 ? d.left_keys : d.right_keys) {
      values.push_back(EvalOr(st, *e, ctx, input_key));
      if (values.back().is_null()) return std::nullopt;
      // 1 and 1.0 join: keys compare as numbers.
      if (values.back().type() == Type::kInt) values.back() = Value::Real(values.back().as_int());
    }
    std::string key;
    EncodeKey(values.data(), values.size(), &key);
    return key;
  };
  auto row_key = [&](const Row& row) {
    Row values;
    for (int k : st.side_keys[side]) values.push_back(row[k]);
    std::string key;
    EncodeKey(values.data(), values.size(), &key);
    return key;
  };
  auto joined = [&](const Row* left, const Row* right) -> const Row& {
    st.tuple.clear();
    if (left != nullptr) {
      st.tuple.insert(st.tuple.end(), left->begin(), left->end());
    } else {
      st.tuple.resize(st.left_width);
    }
    if (right != nullptr) {
      st.tuple.insert(st.tuple.end(), right->begin(), right->end());
    } else {
      st.tuple.resize(st.left_width + st.right_width);
    }
    return st.tuple;
  };
  static const absl::flat_hash_map<std::string, std::string> kNone;
  // The other side's rows, decoded one at a time (into a buffer per side).
  auto decode = [&](int s, const std::string& bytes) -> const Row* {
    st.decoded[s].clear();
    DecodeRow(bytes, &st.decoded[s]);
    return &st.decoded[s];
  };
  auto bucket = [&](int s, const std::optional<std::string>& key) -> const auto& {
    if (!key) return kNone;
    auto it = st.sides[s].find(*key);
    return it == st.sides[s].end() ? kNone : it->second;
  };
  const int other = 1 - side;
  if (old_row != nullptr) {
    const std::optional<std::string> key = join_key(*old_row);
    if (key) {
      auto it = st.sides[side].find(*key);
      if (it != st.sides[side].end()) {
        it->second.erase(row_key(*old_row));
        if (it->second.empty()) st.sides[side].erase(it);
      }
    }
    const auto& matches = bucket(other, key);
    if (side == 0) {
      for (const auto& [k, r] : matches) Contribute(st, -1, joined(old_row, decode(1, r)));
      if (matches.empty() && d.left_join) Contribute(st, -1, joined(old_row, nullptr));
    } else {
      for (const auto& [k, l] : matches) Contribute(st, -1, joined(decode(0, l), old_row));
      if (d.left_join && key && bucket(side, key).empty()) {
        for (const auto& [k, l] : matches) Contribute(st, +1, joined(decode(0, l), nullptr));
      }
    }
  }
  if (new_row != nullptr) {
    const std::optional<std::string> key = join_key(*new_row);
    const auto& matches = bucket(other, key);
    if (side == 0) {
      for (const auto& [k, r] : matches) Contribute(st, +1, joined(new_row, decode(1, r)));
      if (matches.empty() && d.left_join) Contribute(st, +1, joined(new_row, nullptr));
    } else {
      if (d.left_join && key && bucket(side, key).empty()) {
        for (const auto& [k, l] : matches) Contribute(st, -1, joined(decode(0, l), nullptr));
      }
      for (const auto& [k, l] : matches) Contribute(st, +1, joined(decode(0, l), new_row));
    }
    if (key) {
      std::string& stored = st.sides[side][*key][row_key(*new_row)];
      stored.clear();
      EncodeRow(*new_row, &stored);
    }
  }
}

void Maintainer::Evaluate(State& st, const Row& tuple, Contribution* c) {
  const projection::DerivedPlan& d = *st.derived;
  sql::EvalContext ctx;
  ctx.row = &tuple;
  ctx.now_us = now_;
  if (d.timed()) c->deadline = NextFlip(st, ctx);
  // The input rows' keys: the left side's, then the right side's when joined.
  auto input_key = [&] {
    std::string key = KeyText(tuple, st.side_keys[0]);
    if (d.inputs.size() > 1)
      absl::StrAppend(&key, " | ", KeyText(tuple, st.side_keys[1], st.left_width));
    return key;
  };
  c->passes = d.where == nullptr || IsTrue(st, *d.where, ctx, input_key);
  if (!c->passes) return;
  c->values.clear();
  c->key.clear();
  if (!d.aggregate) {
    for (const sql::ExprPtr& e : d.outputs) c->values.push_back(EvalOr(st, *e, ctx, input_key));
    Row key;
    for (int k : st.plan->key) key.push_back(c->values[k]);
    EncodeKey(key.data(), key.size(), &c->key);
    return;
  }
  for (const sql::ExprPtr& g : d.group_by) c->values.push_back(EvalOr(st, *g, ctx, input_key));
  EncodeKey(c->values.data(), c->values.size(), &c->key);
  c->args.clear();
  c->counted.clear();
  for (const projection::AggregatePlan& a : d.aggregates) {
    const bool counted = a.filter == nullptr || IsTrue(st, *a.filter, ctx, input_key);
    c->counted.push_back(counted);
    c->args.push_back(counted && a.arg != nullptr ? EvalOr(st, *a.arg, ctx, input_key) : Value());
    for (const sql::ExprPtr& more : a.more_args) {
      c->args.push_back(counted ? EvalOr(st, *more, ctx, input_key) : Value());
    }
  }
}

void Maintainer::Apply(State& st, int sign, const Contribution& c) {
  if (!c.passes) return;
  const projection::DerivedPlan& d = *st.derived;
  if (d.aggregate) {
    auto [it, created] = st.groups.try_emplace(c.key);
    Group& group = it->second;
    if (created) {
      if (st.slot_count > 0) {
        group.slots = std::make_unique<int64_t[]>(static_cast<size_t>(st.slot_count));
      }
      for (size_t i = 0; i < d.aggregates.size(); ++i) {
        if (st.slot_offset[i] < 0) group.ordered.push_back(NewAccumulator(d.aggregates[i]));
      }
    }
    group.rows += sign;
    size_t ordered = 0;
    size_t input = 0;  // the aggregate's first input in c.args
    for (size_t i = 0; i < d.aggregates.size(); ++i) {
      const int offset = st.slot_offset[i];
      const size_t first = input;
      input += 1 + d.aggregates[i].more_args.size();
      if (!c.counted[i]) {
        ordered += offset < 0 ? 1 : 0;
        continue;
      }
      if (offset >= 0) {
        SimpleAdd(d.aggregates[i], &group.slots[offset], sign, c.args[first]);
      } else {
        group.ordered[ordered++]->AddInputs(sign, &c.args[first]);
      }
    }
    if (!group.dirty) {
      group.dirty = true;
      st.dirty.push_back(c.key);
    }
    return;
  }
  PlainRow& entry = st.plain[c.key];
  entry.count += sign;
  // The same key from another tuple (an update arrives as -old +new): the newest row wins.
  if (sign > 0) {
    entry.row.clear();
    EncodeRow(c.values, &entry.row);
  }
  if (!entry.dirty) {
    entry.dirty = true;
    st.dirty.push_back(c.key);
  }
}

void Maintainer::Contribute(State& st, int sign, const Row& tuple) {
  Evaluate(st, tuple, &st.before);
  Apply(st, sign, st.before);
  if (st.derived->timed()) Track(st, sign, tuple, st.before.deadline);
}

void Maintainer::Replace(State& st, const Row* old_tuple, const Row* new_tuple) {
  if (old_tuple != nullptr) Evaluate(st, *old_tuple, &st.before);
  if (new_tuple != nullptr) Evaluate(st, *new_tuple, &st.after);
  if (st.derived->timed()) {
    // Timers are per tuple: kept even when the view's contribution does not change.
    if (old_tuple != nullptr) Track(st, -1, *old_tuple, st.before.deadline);
    if (new_tuple != nullptr) Track(st, +1, *new_tuple, st.after.deadline);
  }
  // Most upstream changes touch columns this view does not read: nothing to do then.
  if (old_tuple != nullptr && new_tuple != nullptr && st.before == st.after) return;
  if (old_tuple != nullptr) Apply(st, -1, st.before);
  if (new_tuple != nullptr) Apply(st, +1, st.after);
}

absl::Status Maintainer::Flush(const Writer& write) {
  Row now_row, old_row;
  std::string encoded;
  for (auto& owned : states_) {
    if (owned == nullptr) continue;
    State& st = *owned;
    const projection::DerivedPlan& d = *st.derived;
    std::vector<std::string> dirty;
    dirty.swap(st.dirty);
    for (const std::string& key : dirty) {
      bool exists = false;
      std::string* emitted;
      std::string* pending = nullptr;  // a plain row's row as last applied
      if (d.aggregate) {
        auto it = st.groups.find(key);
        if (it == st.groups.end()) continue;
        Group& g = it->second;
        g.dirty = false;
        emitted = &g.emitted;
        if (g.rows > 0) {
          exists = true;
          Row group_row;
          DecodeKey(key, &group_row);  // the GROUP BY values
          const size_t group_width = group_row.size();
          auto group_key = [&] {
            Row group_values(group_row.begin(), group_row.begin() + group_width);
            std::vector<int> all(group_width);
            for (size_t c = 0; c < group_width; ++c) all[c] = static_cast<int>(c);
            return KeyText(group_values, all);
          };
          size_t ordered = 0;
          for (size_t i = 0; i < d.aggregates.size(); ++i) {
            const int offset = st.slot_offset[i];
            absl::StatusOr<Value> result = offset >= 0
                                               ? SimpleResult(d.aggregates[i], &g.slots[offset])
                                               : g.ordered[ordered++]->Result();
            if (!result.ok()) ExpressionError(st, group_key(), result.status());
            group_row.push_back(result.ok() ? *std::move(result) : Value::Null());
          }
          sql::EvalContext ctx;
          ctx.row = &group_row;
          now_row.clear();
          for (const sql::ExprPtr& e : d.outputs) {
            now_row.push_back(EvalOr(st, *e, ctx, group_key));
          }
        }
      } else {
        auto it = st.plain.find(key);
        if (it == st.plain.end()) continue;
        PlainRow& p = it->second;
        p.dirty = false;
        emitted = &p.emitted;
        pending = &p.row;
        if (p.count > 0) {
          exists = true;
          now_row.clear();
          // No new row since the last flush (a tuple of the same key left): the stored one.
          DecodeRow(p.row.empty() ? p.emitted : p.row, &now_row);
        }
      }
      encoded.clear();
      if (exists) {
        for (size_t c = 0; c < now_row.size(); ++c) {
          if (!now_row[c].is_null()) (void)sql::CoerceTo(st.plan->columns[c].type, &now_row[c]);
        }
        EncodeRow(now_row, &encoded);
      }
      if (encoded != *emitted) {
        const bool had = !emitted->empty();
        old_row.clear();
        if (had) DecodeRow(*emitted, &old_row);
        const Row* old_ptr = had ? &old_row : nullptr;
        const Row* new_ptr = exists ? &now_row : nullptr;
        if (write) SV_RETURN_IF_ERROR(write(st.view, old_ptr, new_ptr));
        OnChange(st.view, old_ptr, new_ptr);  // derived views that read this one
        emitted->swap(encoded);
      }
      if (pending != nullptr && exists) std::string().swap(*pending);  // `emitted` holds it
      if (emitted->empty()) {
        if (d.aggregate) {
          st.groups.erase(key);
        } else {
          st.plain.erase(key);
        }
      }
    }
  }
  return absl::OkStatus();
}

void Maintainer::BeginLoad(const std::vector<int>& views) {
  // Which derived views to recompute: the named ones and everything downstream of them.
  loading_.assign(states_.size(), views.empty());
  fed_.assign(states_.size(), false);
  for (int v : views) {
    if (StateOf(v) != nullptr) loading_[v] = true;
  }
  for (size_t v = 0; v < states_.size(); ++v) {
    if (states_[v] == nullptr) {
      loading_[v] = false;
      continue;
    }
    for (int input : states_[v]->derived->inputs) loading_[v] = loading_[v] || loading_[input];
  }
  for (size_t v = 0; v < states_.size(); ++v) {
    if (!loading_[v]) continue;
    State& st = *states_[v];
    st.groups.clear();
    st.plain.clear();
    st.dirty.clear();
    st.sides[0].clear();
    st.sides[1].clear();
    st.timers.clear();
  }
}

void Maintainer::LoadRow(int view, const Row& row) {
  fed_[view] = true;
  for (const auto& [derived, side] : consumers_[view]) {
    if (loading_[derived]) Feed(derived, side, nullptr, &row);
  }
}

absl::Status Maintainer::FinishLoad(const Scanner& scan) {
  // Inputs not fed row by row: stored rows of base views and of derived views that keep their
  // state; derived inputs being recomputed feed their readers as they flush.
  std::vector<bool> scanned(states_.size(), false);
  for (size_t v = 0; v < states_.size(); ++v) {
    if (!loading_[v]) continue;
    for (int input : states_[v]->derived->inputs) {
      if (loading_[input] || fed_[input] || scanned[input]) continue;
      scanned[input] = true;
      SV_RETURN_IF_ERROR(scan(input, [&](const Row& row) { LoadRow(input, row); }));
    }
  }
  // Flush without writing: the outputs are what the store holds; the cascade from recomputed
  // derived inputs must reach only views being recomputed.
  std::vector<std::vector<std::pair<int, int>>> saved = consumers_;
  for (size_t v = 0; v < consumers_.size(); ++v) {
    std::erase_if(consumers_[v],
                  [&](const std::pair<int, int>& c) { return !loading_[c.first] || !loading_[v]; });
  }
  absl::Status s = Flush(nullptr);
  consumers_ = std::move(saved);
  loading_.clear();
  fed_.clear();
  return s;
}

absl::Status Maintainer::Load(const Scanner& scan, const std::vector<int>& views) {
  BeginLoad(views);
  return FinishLoad(scan);
}

void Maintainer::ForEachRow(int view, const std::function<void(const Row&)>& each) const {
  const State* st = StateOf(view);
  if (st == nullptr) return;
  Row row;
  auto emit = [&](const std::string& emitted) {
    row.clear();
    if (emitted.empty() || !DecodeRow(emitted, &row)) return;
    each(row);
  };
  if (st->derived->aggregate) {
    for (const auto& [k, g] : st->groups) emit(g.emitted);
  } else {
    for (const auto& [k, p] : st->plain) emit(p.emitted);
  }
}

}  // namespace sv::derived
