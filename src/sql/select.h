#pragma once
// A `CREATE VIEW <name> AS SELECT …` statement of a derived view, bound (bound.h) and checked
// for what incremental maintenance supports (one join at most, named columns). Expressions stay
// bound nodes (ExprNode) until the caller lowers them with its own name resolution and a hook
// that takes over the nodes it owns (aggregate calls, GROUP BY expressions), so one statement
// lowers against several row shapes.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/location.h"
#include "common/value.h"
#include "sql/bound.h"
#include "sql/expr.h"

namespace sv::sql {

// One expression of a bound statement; valid while the statement lives.
struct ExprNode {
  const BoundExpr* expr = nullptr;
  int64_t offset = 0;  // byte offset of the construct in the statement text
};

// Offered every node before it is lowered: an expression to use instead, or nullptr to let the
// lowering go on.
using NodeHook = std::function<absl::StatusOr<ExprPtr>(const ExprNode&)>;

// An aggregate call as written: name(args) or name(*), [DISTINCT], [WITHIN GROUP (ORDER BY …)],
// [FILTER (WHERE …)], already checked against the catalog.
struct AggregateCall {
  std::string name;  // lower case
  const AggregateSpec* spec = nullptr;
  bool star = false;
  bool distinct = false;
  std::vector<ExprNode> args;
  std::vector<ExprNode> order_by;  // WITHIN GROUP (ORDER BY …), or array_agg(x ORDER BY …)
  std::vector<bool> order_desc;    // per order_by
  bool within_group = false;
  std::optional<ExprNode> filter;
  int64_t offset = 0;
};

class SelectStatement {
 public:
  struct Relation {
    std::string name;   // as folded by PostgreSQL
    std::string alias;  // alias, or the name when none is written
    int64_t offset = 0;
  };
  struct Join {
    Relation relation;
    bool left = false;  // LEFT [OUTER] JOIN; otherwise INNER
    ExprNode on;
  };
  struct Target {
    std::string name;  // the alias, else what PostgreSQL would name the column
    ExprNode expr;
    int64_t offset = 0;
  };

  // Binds the statement; errors are InvalidArgument "file:line:col: problem" naming the
  // unsupported construct (HAVING, ORDER BY, DISTINCT, set operations, subqueries in FROM,
  // more than one join, …).
  static absl::StatusOr<std::unique_ptr<SelectStatement>> Parse(std::string_view sql,
                                                                const Location& where);
  ~SelectStatement();

  const std::string& view_name() const { return bound_->view_name; }
  const Relation& from() const { return from_; }
  const std::optional<Join>& join() const { return join_; }
  const std::optional<ExprNode>& where() const { return where_clause_; }
  const std::vector<ExprNode>& group_by() const { return group_by_; }
  bool grouped() const { return bound_->grouped; }
  const std::vector<Target>& targets() const { return targets_; }
  const std::string& text() const { return bound_->text; }

  // Lowers one expression of this statement for the evaluator.
  absl::StatusOr<ExprPtr> Compile(const ExprNode& node, const Resolver& resolver,
                                  const NodeHook* hook) const;
  // The call when `node` is an aggregate (count, sum, avg, min, max, percentile_cont,
  // percentile_disc); nullopt otherwise.
  absl::StatusOr<std::optional<AggregateCall>> AsAggregate(const ExprNode& node) const;
  // `a AND b AND …` → its conjuncts; anything else → itself.
  std::vector<ExprNode> Conjuncts(const ExprNode& node) const;
  // `l = r` → true with both sides.
  bool AsEquality(const ExprNode& node, ExprNode* left, ExprNode* right) const;
  // A plain column reference's (folded) name parts.
  std::optional<std::vector<std::string>> AsColumnRef(const ExprNode& node) const;
  // An integer constant (GROUP BY 1).
  std::optional<int64_t> AsIntConstant(const ExprNode& node) const;
  // Structure without positions: equal for `date_trunc('day', t)` written twice.
  std::string Fingerprint(const ExprNode& node) const;

  // Types every expression of the statement (the catalog's rules; `column_type` answers the
  // column references). Call once before TypeOf.
  void InferTypes(const ColumnTyper& column_type);
  // The static type of `node`; an error asking for a cast when it cannot be told.
  absl::StatusOr<Type> TypeOf(const ExprNode& node) const;

  // InvalidArgument "file:line:col: message" at a byte offset of the statement.
  absl::Status Error(int64_t offset, std::string_view message) const;

 private:
  SelectStatement() = default;
  absl::Status Read();

  std::unique_ptr<BoundSelect> bound_;
  Relation from_;
  std::optional<Join> join_;
  std::optional<ExprNode> where_clause_;
  std::vector<ExprNode> group_by_;
  std::vector<Target> targets_;
};

}  // namespace sv::sql
