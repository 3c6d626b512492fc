#pragma once
// Binds a config's views to compiled handlers and applies one event to a working set of rows.
//
// Semantics of a handler (per event type, per view), SQL UPDATE-like:
//   1. key columns are evaluated from the event (they may not read the current row);
//   2. the current row with that key is looked up (bare column names in expressions read it;
//      for a new row they read the column defaults);
//   3. `when` (if any) must be true, else the view ignores the event;
//   4. `delete: true` removes the row; otherwise every `set` expression is evaluated against the
//      OLD row and the results are written together (upsert; new rows start from defaults).
//   `explode: <array>` repeats 1-4 once per element (alias.<field>, meta.ordinality).
//   Views are applied in declaration order; `<view>.<column>` reads the row an earlier view
//   wrote for this same event.
// An event either takes effect in every view or in none (changes are staged, then published).

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/value.h"
#include "config/config.h"
#include "contracts/contracts.h"
#include "simdjson.h"
#include "sql/deparse.h"
#include "sql/expr.h"
#include "sql/time_bounds.h"

namespace sv::projection {

struct ColumnPlan {
  std::string name;
  Type type = Type::kText;
  Value default_value;
};

struct HandlerPlan {
  std::vector<std::pair<int, sql::ExprPtr>> key_sets;    // key column index -> expression
  std::vector<std::pair<int, sql::ExprPtr>> value_sets;  // other columns
  // Per value set: the event field it copies when its expression is a bare `e.<field>`, else
  // "". A field an event lists in its kUnchangedHeader (a change feed's unchanged TOASTed
  // column) leaves such a column as the row has it.
  std::vector<std::string> value_fields;
  std::vector<std::string> key_fields;  // the same, per key set
  bool reads_other_views = false;       // some expression reads another view's row
  bool key_reads_other_views = false;   // some key expression does (which row is known late)
  sql::ExprPtr when;
  sql::ExprPtr explode;
  bool delete_row = false;
};

// One aggregate of a derived view, as maintained per group.
struct AggregatePlan {
  enum class Kind {
    kCountStar,
    kCount,
    kSum,
    kAvg,
    kMin,
    kMax,
    kPercentileCont,
    kPercentileDisc,
    kJsonArray,   // array_agg / json_agg: a JSON array
    kJsonObject,  // json_object_agg(key, value): a JSON object
  };
  Kind kind = Kind::kCountStar;
  bool distinct = false;  // the aggregate sees each distinct argument value once
  sql::ExprPtr arg;       // on the input tuple; null for count(*)
  // Further inputs, after `arg`: json_object_agg's value, or array_agg's ORDER BY keys.
  std::vector<sql::ExprPtr> more_args;
  std::vector<bool> descending;  // array_agg: per ORDER BY key
  sql::ExprPtr filter;           // FILTER (WHERE …) on the input tuple, or null
  double fraction = 0;           // percentile_cont / percentile_disc
  Type arg_type = Type::kNull;
  Type result_type = Type::kInt;
};

// A view declared in SQL over other views (config `derived_views`). The input tuple is the left
// input's row followed, for a join, by the right input's row (NULLs when a LEFT JOIN has no
// match).
// A time-relative comparison of a derived view's WHERE or FILTER, `row OP g(now())`
// (sql/time_bounds.h): the view's rows change when the clock passes its flip time for a row.
struct TimeAtomPlan {
  sql::ExprPtr row;  // on the input tuple; a timestamp
  sql::AtomShape shape;
};

struct DerivedPlan {
  std::string sql;
  std::vector<int> inputs;  // view indices: {left} or {left, right}
  bool left_join = false;
  // Equi-join: left_keys[i] on the left row = right_keys[i] on the right row.
  std::vector<sql::ExprPtr> left_keys;
  std::vector<sql::ExprPtr> right_keys;
  // Per input side, per column: some expression of this view reads it. A join keeps the rows
  // of both sides in memory, and only these columns of them.
  std::vector<bool> reads[2];
  sql::ExprPtr where;  // on the input tuple, or null
  bool aggregate = false;
  std::vector<sql::ExprPtr> group_by;  // on the input tuple
  std::vector<AggregatePlan> aggregates;
  // Per output column. Aggregate views read [group values…, aggregate results…]; the others
  // read the input tuple.
  std::vector<sql::ExprPtr> outputs;
  std::string refresh;  // cron expression: recomputed in full by the store on that schedule
  // Every now() comparison: a view with any is "timed" and moves with the engine's clock.
  std::vector<TimeAtomPlan> time_atoms;
  bool timed() const { return !time_atoms.empty(); }
};

struct ViewPlan {
  std::string name;
  int source = 0;
  std::vector<ColumnPlan> columns;
  std::vector<int> key;       // column indices
  bool key_nullable = false;  // a key value may be NULL (store::TableSpec::key_nullable)
  std::vector<std::vector<std::string>> indexes;       // "-col" = descending
  std::vector<std::unique_ptr<HandlerPlan>> handlers;  // by event type id; null = not handled
  std::string definition_hash;
  int64_t config_version = 0;  // the config's `version:` (0: none declared)
  // Every handler sets a key column straight from the routing key (e.orderId where orderId is
  // the source's key field, or meta.key): all rows of this view touched by an event belong to
  // the event's key, so keys can be folded in parallel partitions.
  bool partition_local = true;
  int tenant = -1;  // the column naming a row's organization (reads are scoped by it), or -1
  // Its rows come from some tenant-scoped view (its own tenant column, or an input's).
  bool reads_tenant_rows = false;
  bool internal = false;  // not served over REST (config `internal: true`)
  // Blue/green with a changed definition: the plan of the view's `previous:` definition (an
  // index into Catalog::views once appended there), or -1. Compile leaves that plan (named
  // PreviousPlanName(view), internal, `previous_of` = the view) in Catalog::previous_views:
  // an engine that runs it appends them all to `views`, in order, and feeds it from the source.
  int previous = -1;
  int previous_of = -1;
  // Set for a derived view (no handlers, fed by the row changes of `derived->inputs`).
  std::unique_ptr<DerivedPlan> derived;
};

// The name of a view's `previous:` plan: no config name can take it (names are identifiers).
inline std::string PreviousPlanName(std::string_view view) {
  return std::string(view) + "#previous";
}

struct SourcePlan {
  config::SourceConfig config;
  // The event contracts (JSON Schemas) of config.contracts; null when it declares none.
  std::shared_ptr<const contracts::ContractSet> contracts;
  absl::flat_hash_map<std::string, int> type_ids;  // event type name -> id
  std::vector<int> views;                          // views fed by this source, in order
};

// An autocomplete lookup over a view's rows (config::LookupConfig), by column index.
struct LookupPlan {
  std::string name;
  int view = 0;
  int label = 0;
  std::vector<int> fields;
  int scope = -1;                            // -1: none
  std::vector<std::pair<int, Value>> where;  // column = value, coerced to the column's type
  int64_t default_limit = 10;
  int64_t max_limit = 100;
};

struct Catalog {
  std::vector<SourcePlan> sources;
  std::vector<ViewPlan> views;
  std::vector<LookupPlan> lookups;
  // The views' `previous:` plans, set aside (see ViewPlan::previous).
  std::vector<ViewPlan> previous_views;
  // By lookup: the lookup over its view's `previous:` definition's columns, read while a version
  // of that definition serves; none when the view has no previous: or the lookup does not fit it.
  std::vector<std::optional<LookupPlan>> previous_lookups;
  int FindView(std::string_view name) const;
  int FindSource(std::string_view name) const;
  // The column types of the views, for sql::StoreSelect (which then prints timestamp and
  // interval arithmetic a store can run). Valid while the catalog lives.
  sql::ColumnTypeFn ColumnTypes() const;
};

// Compiles every expression of the config; errors are "file:line:col: problem". Derived views
// follow the other views in `views`, each after the views it reads.
absl::StatusOr<std::unique_ptr<Catalog>> Compile(const config::Config& config);

// Compiles one derived view against the views already in `catalog` and appends it.
absl::Status CompileDerivedView(const config::DerivedViewConfig& config, Catalog* catalog);

// Checks one lookup's view and columns and appends its plan.
absl::Status CompileLookup(const config::LookupConfig& config, Catalog* catalog);
// Fills catalog->previous_lookups, once the `previous:` plans are compiled (still in `views`).
void CompilePreviousLookups(const config::Config& config, Catalog* catalog);

// The rows an event reads and writes, keyed by EncodeKey of the key columns. Implemented by the
// engine's working set (read-through cache in steady state; plain maps during rebuild).
class RowSet {
 public:
  virtual ~RowSet() = default;
  // The row or nullptr when absent. The pointer stays valid until the next call on this RowSet.
  // `key_values` are the key columns the encoded `key` was made from.
  virtual absl::StatusOr<const Row*> Find(int view, const std::string& key,
                                          const Row& key_values) = 0;
  virtual void Put(int view, const std::string& key, Row row) = 0;
  virtual void Erase(int view, const std::string& key) = 0;
  // A hint: rows of `view` about to be read, by (encoded key, key values). A set over a store
  // with round trips reads those it does not hold in one; the others ignore it.
  virtual absl::Status Prefetch(int /*view*/,
                                const std::vector<std::pair<std::string, Row>>& /*keys*/) {
    return absl::OkStatus();
  }
  // What the set holds for `key` without a read: the row (valid as Find's), nullptr when held as
  // absent, nullopt when only a read would tell.
  virtual std::optional<const Row*> Held(int /*view*/, const std::string& /*key*/) {
    return std::nullopt;
  }
};

// One decoded event, as expressions see it.
// The header in which a source lists the fields it did not resend (comma-separated).
inline constexpr char kUnchangedHeader[] = "sv-unchanged";

struct EventInput {
  int source = 0;
  int type_id = -1;
  simdjson::dom::element value;
  Value meta[static_cast<int>(sql::MetaField::kCount)];
  const std::vector<std::pair<std::string, std::string>>* headers = nullptr;
};

// Applies an event to every view of its source. On error nothing is written to `rows` and the
// status says which view and what failed (e.g. "order_items_view: operator * cannot take text").
class Applier {
 public:
  explicit Applier(const Catalog* catalog) : catalog_(catalog) {}
  absl::Status Apply(EventInput& event, RowSet* rows);
  // Restricts writing to the given views (rebuild of some views); others are still evaluated
  // so that an event fails or succeeds exactly as in the live engine.
  void set_write_mask(std::vector<bool> mask) { write_mask_ = std::move(mask); }

 private:
  struct Staged {
    int view;
    std::string key;
    bool erase;
    Row row;
  };
  absl::Status ApplyHandler(int view, const HandlerPlan& handler, EventInput& event,
                            sql::EvalContext& ctx, RowSet* rows);
  absl::StatusOr<const Row*> Lookup(int view, const std::string& key, const Row& key_values,
                                    RowSet* rows);

  const Catalog* catalog_;
  std::vector<bool> write_mask_;
  std::deque<Staged> staged_;  // deque: rows stay put while later views read them
  std::vector<const Row*> view_rows_;
  std::string key_buf_;
  Row fresh_;  // defaults of a row that does not exist yet
};

}  // namespace sv::projection
