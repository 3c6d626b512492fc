#pragma once
// The now() comparisons of a derived view (private to projection/).

#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "projection/projection.h"
#include "sql/select.h"

namespace sv::projection::internal {

// Checks every now() / current_timestamp / current_date of the statement: each must be one
// side of a comparison `<row timestamp> OP g(now())` (OP <, <=, >, >=; g(t) = t [± interval],
// date_trunc('<unit>', t) [± interval]) in WHERE or in an aggregate's FILTER. Appends one atom
// per such comparison, its row side lowered by `compile_row`; anything else is an error naming
// where now() is allowed.
absl::Status CollectTimeAtoms(
    const sql::SelectStatement& st,
    const std::function<absl::StatusOr<sql::ExprPtr>(const sql::ExprNode&)>& compile_row,
    std::vector<TimeAtomPlan>* atoms);

}  // namespace sv::projection::internal
