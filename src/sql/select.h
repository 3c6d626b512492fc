#pragma once
// A `CREATE VIEW <name> AS SELECT …` statement read with libpg_query into its clauses, for
// derived views. Expressions stay parse-tree handles (ExprNode) until the caller compiles them
// with its own name resolution and a hook that takes over the nodes it owns (aggregate calls,
// GROUP BY expressions), so one statement compiles against several row shapes.

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
#include "simdjson.h"
#include "sql/expr.h"

namespace sv::sql {

// One expression node of a parsed statement; valid while the statement lives.
struct ExprNode {
  simdjson::dom::element node;
  int64_t offset = 0;  // byte offset of the construct in the statement text
};

// Offered every node before the compiler handles it: an expression to use instead, or nullptr
// to let the compiler go on.
using NodeHook = std::function<absl::StatusOr<ExprPtr>(const ExprNode&)>;

// An aggregate call as written: name(args) or name(*), [DISTINCT], [WITHIN GROUP (ORDER BY …)],
// [FILTER (WHERE …)].
struct AggregateCall {
  std::string name;  // lower case
  bool star = false;
  bool distinct = false;
  std::vector<ExprNode> args;
  std::vector<ExprNode> order_by;  // WITHIN GROUP (ORDER BY …)
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

  // Parses the statement; errors are InvalidArgument "file:line:col: problem" naming the
  // unsupported construct (HAVING, ORDER BY, DISTINCT, set operations, subqueries in FROM,
  // more than one join, …).
  static absl::StatusOr<std::unique_ptr<SelectStatement>> Parse(std::string_view sql,
                                                                const Location& where);
  ~SelectStatement();

  const std::string& view_name() const { return view_name_; }
  const Relation& from() const { return from_; }
  const std::optional<Join>& join() const { return join_; }
  const std::optional<ExprNode>& where() const { return where_clause_; }
  const std::vector<ExprNode>& group_by() const { return group_by_; }
  bool grouped() const { return grouped_; }
  const std::vector<Target>& targets() const { return targets_; }
  const std::string& text() const { return text_; }

  // Compiles one expression of this statement.
  absl::StatusOr<ExprPtr> Compile(const ExprNode& node, const Resolver& resolver,
                                  const NodeHook* hook) const;
  // The call when `node` is an aggregate this engine knows (count, sum, avg, min, max,
  // percentile_cont, percentile_disc); an unsupported aggregate is an error; nullopt otherwise.
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

  // Static result type. `hook` answers the nodes the caller owns (column references, aggregate
  // calls, GROUP BY expressions) or returns nullopt; the rest follows PostgreSQL's rules for
  // the supported operators and functions. An expression whose type cannot be told is an
  // error asking for a cast.
  using TypeHook = std::function<std::optional<absl::StatusOr<Type>>(const ExprNode&)>;
  absl::StatusOr<Type> InferType(const ExprNode& node, const TypeHook& hook) const;

  // InvalidArgument "file:line:col: message" at a byte offset of the statement.
  absl::Status Error(int64_t offset, std::string_view message) const;

 private:
  SelectStatement() = default;
  absl::Status Read();

  std::string text_;
  Location where_;
  std::string parse_json_;
  simdjson::dom::parser parser_;
  std::string view_name_;
  Relation from_;
  std::optional<Join> join_;
  std::optional<ExprNode> where_clause_;
  std::vector<ExprNode> group_by_;
  bool grouped_ = false;
  std::vector<Target> targets_;
};

// Compiles one node of a parsed statement (the statement reader's entry into the compiler).
absl::StatusOr<ExprPtr> CompileStatementNode(std::string_view statement, const ExprNode& node,
                                             const Resolver& resolver, const Location& where,
                                             const NodeHook* hook);

}  // namespace sv::sql
