#include "server/view_query.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <string_view>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/time_util.h"

namespace sv::server {
namespace {

using store::FilterOp;

constexpr char kCursorVersion = 1;

ParamError Error(std::string_view parameter, std::string message) {
  // The name is echoed in the 400 body; keep an absurd one from bloating it.
  constexpr size_t kEcho = 64;
  std::string name(parameter.substr(0, kEcho));
  if (parameter.size() > kEcho) name += "...";
  return ParamError{std::move(name), std::move(message)};
}

std::optional<int64_t> StrictInt(std::string_view s) {
  int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<double> StrictReal(std::string_view s) {
  double v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  // inf/nan parse but compare with nothing meaningfully; out-of-range is an error, not ±inf.
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

std::string Expected(Type type, std::string_view text) {
  switch (type) {
    case Type::kInt:
      return "expected an integer";
    case Type::kReal:
      return "expected a number";
    case Type::kBool:
      return "expected a boolean (true, false, 1 or 0)";
    case Type::kTime:
      // URL decoding turns '+' into a space, the usual reason an offset fails.
      return text.find(' ') != std::string_view::npos
                 ? "expected an ISO-8601 timestamp (send '+' as %2B)"
                 : "expected an ISO-8601 timestamp, e.g. 2024-05-01T12:00:00Z";
    case Type::kInterval:
      return "expected an interval in integer microseconds";
    case Type::kJson:
      return "a json column cannot be filtered";
    case Type::kText:
    case Type::kNull:
      break;
  }
  return "invalid value";
}

// `text` as a value of a column of `type`; nullopt when it is not one.
std::optional<Value> Convert(Type type, std::string_view text) {
  switch (type) {
    case Type::kText:
      return Value::Text(std::string(text));
    case Type::kInt:
      if (auto i = StrictInt(text)) return Value::Int(*i);
      return std::nullopt;
    case Type::kReal:
      if (auto d = StrictReal(text)) return Value::Real(*d);
      return std::nullopt;
    case Type::kBool:
      if (text == "true" || text == "1") return Value::Bool(true);
      if (text == "false" || text == "0") return Value::Bool(false);
      return std::nullopt;
    case Type::kTime:
      if (auto t = ParseTime(text)) return Value::Time(*t);
      return std::nullopt;
    case Type::kInterval: {
      std::string_view digits = text;
      if (digits.ends_with("us")) digits.remove_suffix(2);
      if (auto i = StrictInt(digits)) return Value::Interval(*i);
      return std::nullopt;
    }
    case Type::kJson:
      return std::nullopt;
    case Type::kNull:
      // No declared type: SQLite compares by storage class, so pick the likeliest one.
      if (auto i = StrictInt(text)) return Value::Int(*i);
      if (auto d = StrictReal(text)) return Value::Real(*d);
      return Value::Text(std::string(text));
  }
  return std::nullopt;
}

std::optional<int> FindColumn(const store::TableSpec& table, std::string_view name) {
  for (size_t i = 0; i < table.columns.size(); ++i) {
    if (table.columns[i].name == name) return static_cast<int>(i);
  }
  return std::nullopt;
}

// One filter value of column `col` from parameter `param`.
std::variant<Value, ParamError> FilterValue(const ViewApi& api, int col, std::string_view param,
                                            std::string_view text) {
  const Type type = api.table.columns[col].type;
  if (text.empty() && type != Type::kText && type != Type::kJson) {
    return Error(param, absl::StrCat("empty value; ", Expected(type, text)));
  }
  std::optional<Value> v = Convert(type, text);
  if (!v) return Error(param, Expected(type, text));
  return *std::move(v);
}

std::optional<FilterOp> SuffixOp(std::string_view suffix) {
  if (suffix == "gt") return FilterOp::kGt;
  if (suffix == "gte") return FilterOp::kGte;
  if (suffix == "lt") return FilterOp::kLt;
  if (suffix == "lte") return FilterOp::kLte;
  if (suffix == "prefix") return FilterOp::kPrefix;
  if (suffix == "contains") return FilterOp::kContains;
  return std::nullopt;
}

// FNV-1a: catches a damaged or hand-edited cursor. Not a MAC; forging one is harmless.
uint32_t Checksum(std::string_view data) {
  uint32_t h = 2166136261u;
  for (char c : data) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  return h;
}

std::string SortName(const ViewApi& api, const store::ViewQuery& q) {
  if (!q.sort || *q.sort < 0 || *q.sort >= static_cast<int>(api.table.columns.size())) return "";
  return api.table.columns[*q.sort].name;
}

size_t BoundarySize(const ViewApi& api, const store::ViewQuery& q) {
  return (q.sort ? 1 : 0) + api.table.key.size();
}

// Decodes `text` and checks it belongs to this view and to q's order; sets q.after/backward.
std::optional<ParamError> ApplyCursor(const ViewApi& api, std::string_view text,
                                      store::ViewQuery* q) {
  const auto malformed = [] { return Error("cursor", "malformed cursor"); };
  std::string bytes;
  if (!absl::WebSafeBase64Unescape(std::string(text), &bytes)) return malformed();
  // Only the canonical spelling (no padding, no whitespace) is a cursor we issued.
  if (absl::WebSafeBase64Escape(bytes) != text) return malformed();
  if (bytes.size() < 5 || bytes[0] != kCursorVersion) return malformed();
  const std::string_view body(bytes.data(), bytes.size() - 4);
  uint32_t sum = 0;
  for (int i = 0; i < 4; ++i) {
    sum |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[bytes.size() - 4 + i])) << (8 * i);
  }
  if (sum != Checksum(body)) return malformed();
  Row row;
  if (!DecodeRow(body.substr(1), &row) || row.size() < 4 || row[0].type() != Type::kText ||
      row[1].type() != Type::kText || row[2].type() != Type::kBool ||
      row[3].type() != Type::kBool) {
    return malformed();
  }
  if (row[0].as_text() != api.view) return Error("cursor", "cursor belongs to another view");
  if (row[1].as_text() != SortName(api, *q) || row[2].as_bool() != q->descending) {
    return Error("cursor", "cursor belongs to another sort order; start again without it");
  }
  if (row.size() - 4 != BoundarySize(api, *q)) {
    return Error("cursor", "cursor does not match the view's key");
  }
  // Boundary values are not type-checked: they are what the store returned, which for a value
  // of an unexpected storage class is its natural type, and they are only ever bound.
  q->backward = row[3].as_bool();
  q->after = Row(std::make_move_iterator(row.begin() + 4), std::make_move_iterator(row.end()));
  return std::nullopt;
}

// An index serves ORDER BY `col` (then the key) when `col` leads it, or when every column
// before `col` in it is fixed to one value by an equality filter (organization_id=X&
// sort=-created_at over [organization_id, created_at]): the rows that pass are one range of it.
bool SortServed(const ViewApi& api, const store::ViewQuery& q) {
  const int col = *q.sort;
  if (std::find(api.sortable.begin(), api.sortable.end(), col) != api.sortable.end()) return true;
  auto fixed = [&](int c) {
    return std::any_of(q.filters.begin(), q.filters.end(), [c](const store::Filter& f) {
      return f.column == c && f.op == FilterOp::kEq && f.values.size() == 1;
    });
  };
  for (const store::IndexSpec& index : api.table.indexes) {
    for (const std::string& named : index.columns) {
      const std::string_view name =
          !named.empty() && named[0] == '-' ? std::string_view(named).substr(1) : named;
      const std::optional<int> c = FindColumn(api.table, name);
      if (!c) break;
      if (*c == col) return true;
      if (!fixed(*c)) break;
    }
  }
  return false;
}

}  // namespace

std::variant<ParsedQuery, ParamError> ParseViewQuery(const ViewApi& api, const Params& params,
                                                     Mode mode) {
  ParsedQuery out;
  store::ViewQuery& q = out.query;
  q.limit = api.default_limit;
  const bool compat = mode == Mode::kCompat;
  std::set<std::string_view> seen;
  std::optional<std::string_view> cursor;
  size_t count = 0;

  for (const auto& [name, value] : params) {
    if (name.empty() && value.empty()) continue;  // a stray '&'
    if (++count > kMaxParams) {
      return Error(name, absl::StrCat("too many parameters (at most ", kMaxParams, ")"));
    }
    if (name.size() > kMaxNameBytes) return Error(name, "parameter name too long");
    const size_t cap = name == "cursor" ? kMaxCursorBytes : kMaxValueBytes;
    if (value.size() > cap) {
      return Error(name, absl::StrCat("value too long (at most ", cap, " bytes)"));
    }
    const bool is_limit = name == "limit" || (compat && name == "pageSize");
    if (!seen.insert(is_limit ? std::string_view("limit") : std::string_view(name)).second) {
      return Error(name, is_limit && compat ? "repeated parameter (limit and pageSize are one)"
                                            : "repeated parameter");
    }
    const bool reserved = name == "from" || name == "to" || name == "sort" || is_limit ||
                          name == "cursor" || (compat && name == "page");
    if (reserved && value.empty()) return Error(name, "empty value");

    if (name == "from" || name == "to") {
      if (!api.time_column) return Error(name, "no time column: this view has no time filter");
      auto v = FilterValue(api, *api.time_column, name, value);
      if (auto* e = std::get_if<ParamError>(&v)) return *std::move(e);
      q.filters.push_back({.column = *api.time_column,
                           .op = name == "from" ? FilterOp::kGte : FilterOp::kLt,
                           .values = {std::get<Value>(std::move(v))}});
    } else if (name == "sort") {
      const bool desc = value[0] == '-';
      const std::string_view col_name = std::string_view(value).substr(desc ? 1 : 0);
      const std::optional<int> col = FindColumn(api.table, col_name);
      if (!col) return Error(name, "unknown column");
      q.descending = desc;
      if (!api.table.key.empty() && *col == api.table.key[0]) {
        q.sort.reset();  // the key order already starts with it
      } else {
        q.sort = *col;  // checked once every filter is known (SortServed)
      }
    } else if (is_limit) {
      const std::optional<int64_t> limit = StrictInt(value);
      if (!limit || *limit < 1 || *limit > api.max_limit) {
        return Error(name, absl::StrCat("expected an integer from 1 to ", api.max_limit));
      }
      q.limit = *limit;
    } else if (name == "cursor") {
      cursor = value;  // decoded once sort= (anywhere in the URL) is known
    } else if (compat && name == "page") {
      const std::optional<int64_t> page = StrictInt(value);
      if (!page || *page < 1) return Error(name, "expected an integer >= 1");
      out.page = *page;
    } else {
      // A column filter: `col` or `col.op`. Reserved names above win over same-named columns.
      FilterOp op = FilterOp::kEq;
      std::optional<int> col = FindColumn(api.table, name);
      if (!col) {
        const size_t dot = name.rfind('.');
        if (dot == std::string::npos) return Error(name, "unknown parameter");
        const std::string_view base = std::string_view(name).substr(0, dot);
        col = FindColumn(api.table, base);
        if (!col) return Error(name, "unknown column");
        const std::optional<FilterOp> suffix_op = SuffixOp(std::string_view(name).substr(dot + 1));
        if (!suffix_op) {
          return Error(name, "unknown operator (use .gt, .gte, .lt, .lte, .prefix or .contains)");
        }
        op = *suffix_op;
        if ((op == FilterOp::kPrefix || op == FilterOp::kContains) &&
            api.table.columns[*col].type != Type::kText) {
          return Error(name, ".prefix and .contains search text columns only");
        }
      }
      store::Filter filter{.column = *col, .op = op, .values = {}};
      if (op == FilterOp::kEq && value.find(',') != std::string::npos) {
        filter.op = FilterOp::kIn;
        for (absl::string_view piece : absl::StrSplit(value, ',')) {
          const std::string_view element(piece.data(), piece.size());
          if (element.empty()) return Error(name, "empty element in list");
          if (filter.values.size() == kMaxInValues) {
            return Error(name, absl::StrCat("too many values (at most ", kMaxInValues, ")"));
          }
          auto v = FilterValue(api, *col, name, element);
          if (auto* e = std::get_if<ParamError>(&v)) return *std::move(e);
          filter.values.push_back(std::get<Value>(std::move(v)));
        }
      } else {
        auto v = FilterValue(api, *col, name, value);
        if (auto* e = std::get_if<ParamError>(&v)) return *std::move(e);
        filter.values.push_back(std::get<Value>(std::move(v)));
      }
      q.filters.push_back(std::move(filter));
    }
  }

  if (q.sort && !SortServed(api, q)) {
    std::vector<std::string> allowed;
    if (!api.table.key.empty()) allowed.push_back(api.table.columns[api.table.key[0]].name);
    for (int s : api.sortable) {
      if (std::find(allowed.begin(), allowed.end(), api.table.columns[s].name) == allowed.end()) {
        allowed.push_back(api.table.columns[s].name);
      }
    }
    return Error("sort", absl::StrCat("column '", api.table.columns[*q.sort].name,
                                      "' is not sortable (sortable: ", absl::StrJoin(allowed, ", "),
                                      "; or a later column of an index once each column before "
                                      "it is fixed by an equality filter, e.g. a=x&sort=-b for an "
                                      "index [a, b])"));
  }
  if (out.page > 0) {
    if (cursor) return Error("page", "page and cursor cannot be combined");
    if (q.limit > 0 && out.page - 1 > std::numeric_limits<int64_t>::max() / q.limit) {
      return Error("page", "page out of range");
    }
    q.offset = (out.page - 1) * q.limit;
  }
  if (cursor) {
    if (std::optional<ParamError> e = ApplyCursor(api, *cursor, &q)) return *std::move(e);
  }
  return out;
}

std::optional<Value> ParseTypedValue(std::string_view text, Type type) {
  return Convert(type, text);
}

std::string EncodeCursor(const ViewApi& api, const store::ViewQuery& q, const Row& boundary_row,
                         bool backward) {
  Row row = {Value::Text(api.view), Value::Text(SortName(api, q)), Value::Bool(q.descending),
             Value::Bool(backward)};
  row.reserve(4 + BoundarySize(api, q));
  // A short row (a caller bug) yields NULLs rather than reading past its end.
  const auto pick = [&](int col) {
    row.push_back(col >= 0 && static_cast<size_t>(col) < boundary_row.size() ? boundary_row[col]
                                                                             : Value::Null());
  };
  if (q.sort) pick(*q.sort);
  for (int k : api.table.key) pick(k);
  std::string bytes(1, kCursorVersion);
  EncodeRow(row, &bytes);
  const uint32_t sum = Checksum(bytes);
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((sum >> (8 * i)) & 0xFF));
  return absl::WebSafeBase64Escape(bytes);
}

}  // namespace sv::server
