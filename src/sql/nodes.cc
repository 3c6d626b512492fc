// Expression tree nodes. Each node evaluates its children into stack temporaries and writes one
// Value; names were resolved when lowered, so evaluation is lookups by slot and JSON walks.

#include <cmath>
#include <cstring>

#include "absl/strings/ascii.h"
#include "common/json_value.h"
#include "sql/nodes_internal.h"

namespace sv::sql::internal {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// ---------------------------------------------------------------------------------------------
// Leaves.

class ConstExpr final : public Expr {
 public:
  explicit ConstExpr(Value value) : value_(std::move(value)) {}
  absl::Status Eval(EvalContext&, Value* out) const override {
    *out = value_;
    return absl::OkStatus();
  }
  const Value& value() const { return value_; }

 private:
  Value value_;
};

class HeaderExpr final : public Expr {
 public:
  explicit HeaderExpr(std::string name) : name_(std::move(name)) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    if (ctx.headers != nullptr) {
      for (const auto& [name, value] : *ctx.headers) {
        if (name == name_) {
          *out = Value::Text(value);
          return absl::OkStatus();
        }
      }
    }
    *out = Value::Null();
    return absl::OkStatus();
  }

 private:
  std::string name_;
};

class NowExpr final : public Expr {
 public:
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    *out = Value::Time(ctx.now_us);
    return absl::OkStatus();
  }
};

class MetaExpr final : public Expr {
 public:
  explicit MetaExpr(int slot) : slot_(slot) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    if (ctx.meta == nullptr) {
      *out = Value::Null();
    } else {
      *out = ctx.meta[slot_];
    }
    return absl::OkStatus();
  }

 private:
  int slot_;
};

class RowColumnExpr final : public Expr {
 public:
  explicit RowColumnExpr(int slot) : slot_(slot) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    if (ctx.row == nullptr || static_cast<size_t>(slot_) >= ctx.row->size()) {
      *out = Value::Null();
    } else {
      *out = (*ctx.row)[slot_];
    }
    return absl::OkStatus();
  }

 private:
  int slot_;
};

class ViewColumnExpr final : public Expr {
 public:
  ViewColumnExpr(int slot, int column) : slot_(slot), column_(column) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    const Row* row = ctx.view_rows == nullptr ? nullptr : ctx.view_rows[slot_];
    if (row == nullptr || static_cast<size_t>(column_) >= row->size()) {
      *out = Value::Null();
    } else {
      *out = (*row)[column_];
    }
    return absl::OkStatus();
  }

 private:
  int slot_;
  int column_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// JSON paths.

element JsonNull() {
  static const element null_element = [] {
    // Leaked on purpose: the element points into this parser's document for the whole process.
    auto* parser = new simdjson::dom::parser();
    element e;
    if (parser->parse("null", 4).get(e) != simdjson::SUCCESS) std::abort();
    return e;
  }();
  return null_element;
}

element JsonPathExpr::Lookup(const EvalContext& ctx) const {
  element cur = slot_ < 0 ? ctx.event : ctx.elements[slot_];
  if (!IsSet(cur)) return JsonNull();
  for (const JsonStep& step : steps_) {
    if (step.is_index) {
      simdjson::dom::array array;
      if (step.index < 1 || cur.get_array().get(array) != simdjson::SUCCESS ||
          array.at(static_cast<size_t>(step.index - 1)).get(cur) != simdjson::SUCCESS) {
        return JsonNull();
      }
    } else {
      simdjson::dom::object object;
      if (cur.get_object().get(object) != simdjson::SUCCESS ||
          object.at_key(step.key).get(cur) != simdjson::SUCCESS) {
        return JsonNull();
      }
    }
  }
  return cur;
}

absl::Status JsonPathExpr::Eval(EvalContext& ctx, Value* out) const {
  return JsonToValue(Lookup(ctx), name_, out);
}

absl::Status JsonPathExpr::EvalJson(EvalContext& ctx, element* out) const {
  *out = Lookup(ctx);
  return absl::OkStatus();
}

absl::Status JsonToValue(element e, std::string_view name, Value* out) {
  switch (e.type()) {
    case element_type::INT64:
      *out = Value::Int(e.get_int64().value_unsafe());
      return absl::OkStatus();
    case element_type::UINT64:
      *out = Value::Real(static_cast<double>(e.get_uint64().value_unsafe()));
      return absl::OkStatus();
    case element_type::DOUBLE:
      *out = Value::Real(e.get_double().value_unsafe());
      return absl::OkStatus();
    case element_type::STRING:
      *out = Value::Text(std::string(e.get_string().value_unsafe()));
      return absl::OkStatus();
    case element_type::BOOL:
      *out = Value::Bool(e.get_bool().value_unsafe());
      return absl::OkStatus();
    case element_type::NULL_VALUE:
      *out = Value::Null();
      return absl::OkStatus();
    case element_type::ARRAY:
    case element_type::OBJECT: {  // a nested document: a json value (e.g. for a json column)
      std::string json;
      AppendCanonicalJson(e, &json);
      *out = Value::Json(std::move(json));
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(Cat("field ", name, " has an unknown JSON type"));
}

// ---------------------------------------------------------------------------------------------
// Factories.

const Value* ConstValue(const Expr& expr) {
  const auto* c = dynamic_cast<const ConstExpr*>(&expr);
  return c == nullptr ? nullptr : &c->value();
}

ExprPtr MakeConst(Value value) { return std::make_unique<ConstExpr>(std::move(value)); }
ExprPtr MakeHeader(std::string name) { return std::make_unique<HeaderExpr>(std::move(name)); }
ExprPtr MakeMeta(int slot) { return std::make_unique<MetaExpr>(slot); }
ExprPtr MakeNow() { return std::make_unique<NowExpr>(); }
ExprPtr MakeRowColumn(int slot) { return std::make_unique<RowColumnExpr>(slot); }
ExprPtr MakeViewColumn(int slot, int column) {
  return std::make_unique<ViewColumnExpr>(slot, column);
}

}  // namespace sv::sql::internal
