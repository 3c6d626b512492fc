#include "engine/reconcile.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "engine/engine.h"
#include "sql/deparse.h"

namespace sv::engine {
namespace {

std::string Render(const Row& row) {
  std::string out;
  for (const Value& v : row) {
    if (!out.empty()) out.push_back('|');
    if (v.type() == Type::kReal) {
      absl::StrAppend(&out, absl::StrFormat("%.9g", v.as_real()));
    } else {
      absl::StrAppend(&out, v.is_null() ? "NULL" : v.ToString());
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<Drift>> ReconcileDerived(const projection::Catalog& catalog,
                                                    store::Store* store, bool dialect_postgres) {
  std::vector<Drift> out;
  for (const projection::ViewPlan& plan : catalog.views) {
    if (plan.derived == nullptr) continue;
    store::TableSpec table = TableFor(plan, 1);
    table.name = plan.name;               // the stable name: the active version
    std::map<std::string, int64_t> diff;  // rendered row -> held - computed
    Drift d;
    d.view = plan.name;
    SV_RETURN_IF_ERROR(store->ScanTable(table, [&](const Row& row) {
      ++diff[Render(row)];
      ++d.rows;
    }));
    SV_ASSIGN_OR_RETURN(
        std::string select,
        sql::StoreSelect(plan.derived->sql,
                         dialect_postgres ? sql::SqlDialect::kPostgres : sql::SqlDialect::kSqlite,
                         catalog.ColumnTypes()));
    SV_RETURN_IF_ERROR(
        store->QuerySelect(select, table.columns, [&](const Row& row) { --diff[Render(row)]; }));
    for (const auto& [row, n] : diff) {
      if (n == 0) continue;
      (n > 0 ? d.unexpected : d.missing) += n > 0 ? n : -n;
      if (d.examples.size() < 5) d.examples.push_back(absl::StrCat(n > 0 ? "+ " : "- ", row));
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace sv::engine
