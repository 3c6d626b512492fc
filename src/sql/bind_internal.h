#pragma once
// The binder's class, shared by its translation units (bind.cc: constants and names,
// bind_calls.cc: operators, casts, calls and subqueries, bind_select.cc: statements). Not part
// of the sql/ public API.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/location.h"
#include "common/status_macros.h"
#include "simdjson.h"
#include "sql/bound.h"
#include "sql/parse_tree.h"

namespace sv::sql::internal {

// One token of a dotted name as written: an identifier (quotes removed) or a subscript.
struct PathToken {
  bool is_index = false;
  std::string ident;
};
// Reads `name ( . name | [ ... ] )*` starting at `pos`; stops at anything else.
std::vector<PathToken> ScanPath(std::string_view text, size_t pos);

class Binder {
 public:
  // `text` is what libpg_query parses; it starts with `prefix_len` bytes the caller did not
  // write ("SELECT " before a handler's expression). Offsets in the bound tree and errors
  // point into `sql`, the caller's text, located through `where`.
  Binder(std::string text, size_t prefix_len, std::string_view sql, const Location& where,
         BindMode mode)
      : text_(std::move(text)),
        prefix_len_(static_cast<int64_t>(prefix_len)),
        sql_(sql),
        where_(where),
        mode_(mode) {}

  absl::Status Parse(std::string_view text, simdjson::dom::object* root);
  const std::string& text() const { return text_; }

  absl::StatusOr<BoundPtr> Bind(const simdjson::dom::element& node, int64_t parent_loc);
  absl::StatusOr<std::vector<BoundPtr>> BindList(const std::vector<simdjson::dom::element>& nodes,
                                                 int64_t loc);
  // Refuses the clauses a handler's expression (or its array subquery) cannot have.
  absl::Status CheckExpressionClauses(const simdjson::dom::object& select, bool allow_from,
                                      int64_t loc) const;
  // `loc` is a byte offset into the parsed text.
  absl::Status ErrorAtText(int64_t loc, std::string_view message) const;
  int64_t Offset(int64_t loc) const;
  // The dotted name's written spelling at `loc`, or `folded` when the text does not read back.
  std::vector<std::string> Written(const std::vector<std::string>& folded, int64_t loc) const;

 private:
  struct Scope {
    std::string alias;  // folded
    int slot;
  };

  BoundPtr Make(BoundKind kind, int64_t loc) const;
  absl::StatusOr<BoundPtr> BindConst(const simdjson::dom::object& body, int64_t loc);
  absl::StatusOr<int64_t> IntConst(const simdjson::dom::element& node, int64_t loc,
                                   std::string_view what);
  absl::StatusOr<BoundPtr> ColumnFrom(const std::vector<std::string>& folded, int64_t loc);
  absl::StatusOr<BoundPtr> BindColumnRef(const simdjson::dom::object& body, int64_t loc);
  absl::StatusOr<BoundPtr> BindIndirection(const simdjson::dom::object& body, int64_t loc);
  absl::StatusOr<BoundPtr> BindAExpr(const simdjson::dom::object& body, int64_t loc);
  absl::StatusOr<BoundPtr> BindBoolExpr(const simdjson::dom::object& body, int64_t loc);
  absl::StatusOr<BoundPtr> BindCase(const simdjson::dom::object& body, int64_t loc);
  absl::StatusOr<BoundPtr> BindTypeCast(const simdjson::dom::object& body, int64_t loc);
  absl::StatusOr<BoundPtr> BindFuncCall(const simdjson::dom::object& body, int64_t loc);
  absl::StatusOr<BoundPtr> BindScalarCall(std::string name, const simdjson::dom::object& body,
                                          int64_t loc);
  absl::StatusOr<BoundPtr> BindAggregate(const AggregateSpec& spec, std::string name,
                                         const simdjson::dom::object& body, int64_t loc,
                                         bool in_subquery);
  absl::StatusOr<BoundPtr> BindSubLink(const simdjson::dom::object& body, int64_t loc);

  std::string text_;
  int64_t prefix_len_;
  std::string_view sql_;
  Location where_;
  BindMode mode_;
  std::vector<Scope> scopes_;
  bool in_subquery_target_ = false;
  std::string parse_json_;
  simdjson::dom::parser parser_;
};

// A function name without its pg_catalog qualifier, lower case.
std::string FoldedFunctionName(const std::vector<simdjson::dom::element>& parts);

}  // namespace sv::sql::internal
