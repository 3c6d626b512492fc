#include "engine/reconcile.h"

#include "common/status_macros.h"
#include "engine/engine.h"
#include "engine/row_diff.h"
#include "sql/deparse.h"

namespace sv::engine {

absl::StatusOr<std::vector<Drift>> ReconcileDerived(const projection::Catalog& catalog,
                                                    store::Store* store, bool dialect_postgres) {
  std::vector<Drift> out;
  for (const projection::ViewPlan& plan : catalog.views) {
    if (plan.derived == nullptr) continue;
    store::TableSpec table = TableFor(plan, 1);
    table.name = plan.name;  // the stable name: the active version
    RowDiff diff;
    Drift d;
    d.view = plan.name;
    if (plan.derived->timed()) {
      d.skipped = "reads now(): its rows are computed at the engine's clock, not the store's";
      out.push_back(std::move(d));
      continue;
    }
    SV_RETURN_IF_ERROR(store->ScanTable(table, [&](const Row& row) {
      diff.AddHeld(row);
      ++d.rows;
    }));
    SV_ASSIGN_OR_RETURN(
        std::string select,
        sql::StoreSelect(plan.derived->sql,
                         dialect_postgres ? sql::SqlDialect::kPostgres : sql::SqlDialect::kSqlite,
                         catalog.ColumnTypes()));
    SV_RETURN_IF_ERROR(
        store->QuerySelect(select, table.columns, [&](const Row& row) { diff.AddComputed(row); }));
    RowDiff::Result result = diff.Finish(/*max_examples=*/5);
    d.missing = result.missing;
    d.unexpected = result.unexpected;
    d.examples = std::move(result.examples);
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace sv::engine
