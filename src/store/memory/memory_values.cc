#include "store/memory/memory_values.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json_value.h"
#include "common/time_util.h"

namespace sv::store::memory {
namespace {

bool IsIntegral(Type t) { return t == Type::kInt || t == Type::kBool || t == Type::kInterval; }

// SQLite's REAL → TEXT ("2.0", "2.5", "1.0e+300").
std::string RealText(double d) {
  std::string s = absl::StrFormat("%.15g", d);
  if (s.find_first_of(".eni") == std::string::npos) s += ".0";
  return s;
}

// The text form SQLite's TEXT affinity gives a value; kTime is stored as ISO-8601 text.
Value AsText(const Value& v) {
  switch (v.type()) {
    case Type::kReal:
      return Value::Text(RealText(v.as_real()));
    case Type::kTime:
      return Value::Text(FormatTime(v.as_int()));
    case Type::kInt:
    case Type::kBool:
    case Type::kInterval:
      return Value::Text(absl::StrCat(v.as_int()));
    default:
      return v;
  }
}

// NUMERIC affinity: integers, integral reals (in range) and numeric text become an integer
// (made by `make`), other reals stay real, anything else stays as it is.
template <typename Make>
Value AsInteger(const Value& v, Make make) {
  if (IsIntegral(v.type())) return make(v.as_int());
  double d = 0;
  if (v.type() == Type::kReal) {
    d = v.as_real();
  } else if (v.type() == Type::kText) {
    int64_t i = 0;
    if (absl::SimpleAtoi(v.as_text(), &i)) return make(i);
    if (!absl::SimpleAtod(v.as_text(), &d)) return v;
  } else {
    return v.type() == Type::kTime ? AsText(v) : v;
  }
  if (std::trunc(d) == d && std::fabs(d) < 9.2e18) return make(static_cast<int64_t>(d));
  return Value::Real(d);
}

int Rank(const Value& v) {
  if (v.is_null()) return 0;
  return v.type() == Type::kText || v.type() == Type::kTime || v.type() == Type::kJson ? 2 : 1;
}

template <typename T>
int Three(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

}  // namespace

Value Coerce(Type column, const Value& value) {
  if (value.is_null()) return value;
  switch (column) {
    case Type::kText:
      return AsText(value);
    case Type::kTime:
      if (value.type() == Type::kText) {
        if (auto micros = ParseTime(value.as_text())) return Value::Time(*micros);
        return value;
      }
      return IsIntegral(value.type()) ? Value::Time(value.as_int()) : value;
    case Type::kInt:
      return AsInteger(value, [](int64_t i) { return Value::Int(i); });
    case Type::kInterval:
      return AsInteger(value, [](int64_t i) { return Value::Interval(i); });
    case Type::kBool: {
      const Value v = AsInteger(value, [](int64_t i) { return Value::Bool(i != 0); });
      return v.type() == Type::kReal ? Value::Bool(static_cast<int64_t>(v.as_real()) != 0) : v;
    }
    case Type::kReal: {
      const Value v = AsInteger(value, [](int64_t i) { return Value::Int(i); });
      return v.type() == Type::kInt ? Value::Real(static_cast<double>(v.as_int())) : v;
    }
    case Type::kJson:
      if (value.type() == Type::kText) {
        if (auto json = CanonicalJson(value.as_text()); json.ok()) return Value::Json(*json);
      }
      return value;
    case Type::kNull:
      break;
  }
  return value;
}

int SqlCompare(const Value& a, const Value& b) {
  const int ra = Rank(a), rb = Rank(b);
  if (ra != rb || ra == 0) return Three(ra, rb);
  if (ra == 1) {
    if (a.type() != Type::kReal && b.type() != Type::kReal) return Three(a.as_int(), b.as_int());
    return Three(a.as_number(), b.as_number());
  }
  if (a.type() == Type::kTime && b.type() == Type::kTime) return Three(a.as_int(), b.as_int());
  return Three(AsText(a).as_text(), AsText(b).as_text());
}

namespace {

absl::Status Invalid(const TableSpec& table, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("query ", table.name, ": ", what));
}

bool Matches(const Value& v, const Filter& f) {
  if (v.is_null()) return false;  // SQL: NULL compares to nothing
  if (f.op == FilterOp::kPrefix || f.op == FilterOp::kContains) {
    if (v.type() != Type::kText || f.values.size() != 1) return false;
    const std::string text = absl::AsciiStrToLower(v.as_text());
    const std::string want = absl::AsciiStrToLower(f.values[0].as_text());
    return f.op == FilterOp::kPrefix ? absl::StartsWith(text, want) : absl::StrContains(text, want);
  }
  for (const Value& x : f.values) {
    if (x.is_null()) continue;
    const int c = SqlCompare(v, x);
    switch (f.op) {
      case FilterOp::kEq:
      case FilterOp::kIn:
        if (c == 0) return true;
        break;
      case FilterOp::kGt:
        return c > 0;
      case FilterOp::kGte:
        return c >= 0;
      case FilterOp::kLt:
        return c < 0;
      case FilterOp::kLte:
        return c <= 0;
      case FilterOp::kPrefix:
      case FilterOp::kContains:
        return false;  // handled above
    }
  }
  return false;
}

}  // namespace

bool RowMatches(const Row& row, const std::vector<Filter>& filters) {
  for (const Filter& f : filters) {
    if (f.column < 0 || static_cast<size_t>(f.column) >= row.size()) return false;
    if (!Matches(row[f.column], f)) return false;
  }
  return true;
}

absl::StatusOr<std::vector<Row>> QueryPage(const TableSpec& table, std::vector<Row> rows,
                                           const ViewQuery& query) {
  const int ncols = static_cast<int>(table.columns.size());
  auto column = [&](int c) { return c >= 0 && c < ncols; };
  if (table.key.empty() || !std::all_of(table.key.begin(), table.key.end(), column)) {
    return Invalid(table, "table needs a primary key with columns in range");
  }
  if (query.sort && !column(*query.sort)) {
    return Invalid(table, absl::StrCat("sort column ", *query.sort, " out of range"));
  }
  if (query.limit < 0 || query.offset < 0) return Invalid(table, "negative limit or offset");
  // The order's columns: the sort column (if any), then the key.
  std::vector<int> order;
  if (query.sort) order.push_back(*query.sort);
  order.insert(order.end(), table.key.begin(), table.key.end());
  Row after;
  if (query.after) {
    if (query.after->size() != order.size()) {
      return Invalid(table, absl::StrCat("boundary has ", query.after->size(), " values, expected ",
                                         order.size()));
    }
    for (size_t i = 0; i < order.size(); ++i) {
      const Value& v = (*query.after)[i];
      if (v.is_null() && i >= (query.sort ? 1u : 0u) && !table.key_nullable) {
        return Invalid(table, "boundary key value is NULL");
      }
      after.push_back(Coerce(table.columns[order[i]].type, v));
    }
  }
  std::vector<Filter> filters = query.filters;
  for (Filter& f : filters) {
    if (!column(f.column)) {
      return Invalid(table, absl::StrCat("filter column ", f.column, " out of range"));
    }
    if (f.op != FilterOp::kIn && f.values.size() != 1) {
      return Invalid(table, "comparison filter needs one value");
    }
    for (Value& v : f.values) v = Coerce(table.columns[f.column].type, v);
  }

  // Scanning up is the query's order, or its reverse for a backward page; NULL is least.
  const bool up = query.descending == query.backward;
  auto scan_cmp = [&](const Row& a, const Row* b_row, const Row* b_tuple) {
    for (size_t i = 0; i < order.size(); ++i) {
      const Value& bv = b_row != nullptr ? (*b_row)[order[i]] : (*b_tuple)[i];
      const int c = SqlCompare(a[order[i]], bv);
      if (c != 0) return up ? c : -c;
    }
    return 0;
  };
  std::vector<Row> kept;
  for (Row& row : rows) {
    bool keep = std::all_of(filters.begin(), filters.end(),
                            [&](const Filter& f) { return Matches(row[f.column], f); });
    if (keep && query.after) keep = scan_cmp(row, nullptr, &after) > 0;
    if (keep) kept.push_back(std::move(row));
  }
  std::sort(kept.begin(), kept.end(),
            [&](const Row& a, const Row& b) { return scan_cmp(a, &b, nullptr) < 0; });
  const size_t begin = std::min(kept.size(), static_cast<size_t>(query.offset));
  const size_t end =
      begin + std::min(kept.size() - begin, static_cast<size_t>(std::min<int64_t>(
                                                query.limit, static_cast<int64_t>(kept.size()))));
  std::vector<Row> page(std::make_move_iterator(kept.begin() + begin),
                        std::make_move_iterator(kept.begin() + end));
  // A backward page was taken in reverse; hand it back in the query's order.
  if (query.backward) std::reverse(page.begin(), page.end());
  return page;
}

}  // namespace sv::store::memory
