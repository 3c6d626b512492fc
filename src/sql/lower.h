#pragma once
// Lowering a bound expression (bound.h) into the evaluator's node tree (expr.h).

#include <functional>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/location.h"
#include "sql/bound.h"
#include "sql/expr.h"

namespace sv::sql {

// Offered every node before it is lowered: an expression to use instead (an aggregate's or a
// GROUP BY expression's slot in the row being computed), or nullptr to lower it as usual.
using LowerHook = std::function<absl::StatusOr<ExprPtr>(const BoundExpr&)>;

// `text` is what the bound offsets point into, located by `where` in errors.
absl::StatusOr<ExprPtr> Lower(const BoundExpr& expr, const Resolver& resolver,
                              const LowerHook* hook, std::string_view text, const Location& where);

}  // namespace sv::sql
