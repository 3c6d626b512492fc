#pragma once
// Reconciliation (seed 000's drift detection): each derived view's stored rows against the
// view's own SELECT run by the store over its inputs, the independent full computation.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "projection/projection.h"
#include "store/store.h"

namespace sv::engine {

struct Drift {
  std::string view;
  int64_t rows = 0;        // rows the view holds
  int64_t missing = 0;     // rows the SELECT gives that the view lacks (or holds differently)
  int64_t unexpected = 0;  // rows the view holds that the SELECT does not give
  std::vector<std::string> examples;  // a few differing rows, rendered
  std::string skipped;                // why the view was not compared ("" = compared)
};

// Compares every derived view (reals within a relative 1e-9: the store sums in another order)
// but the timed ones (now() in WHERE or FILTER): the store's now() is not the clock their rows
// were computed at, so they are listed with `skipped`. `dialect_postgres` selects the SQL
// dialect of `store`.
absl::StatusOr<std::vector<Drift>> ReconcileDerived(const projection::Catalog& catalog,
                                                    store::Store* store, bool dialect_postgres);

}  // namespace sv::engine
