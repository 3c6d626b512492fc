#pragma once
// Helpers the expression nodes' files (nodes.cc, nodes_ops.cc, nodes_calls.cc) share. Not part
// of the sql/ public API.

#include <string_view>

#include "absl/status/status.h"
#include "common/value.h"
#include "simdjson.h"
#include "sql/expr_internal.h"

namespace sv::sql::internal {

// False for a default-constructed element (an EvalContext field the caller did not fill).
bool IsSet(const simdjson::dom::element& e);
// "an array", "an object", ... for messages.
std::string_view JsonKindName(const simdjson::dom::element& e);
std::string_view OpName(BinOp op);
// InvalidArgument "operator <op> cannot take <a> and <b>".
absl::Status OperandError(std::string_view op, const Value& a, const Value& b);
absl::Status OutOfRange(std::string_view what);
// A real result, or an error when it is not finite.
absl::Status FiniteReal(double d, Value* out);
absl::Status CheckFinite(const Value& v);
absl::Status NotBoolean(std::string_view what, const Value& v);
absl::Status PowReal(double x, double y, Value* out);
// a <op> b for the arithmetic operators, with the engine's typing.
absl::Status Arith(BinOp op, const Value& a, const Value& b, Value* out);

}  // namespace sv::sql::internal
