#pragma once
// Read access to libpg_query's JSON parse tree (walked with simdjson), for the binder
// (bind*.cc), the one reader of the parse tree. Not part of the sql/ public API.

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "simdjson.h"

namespace sv::sql::internal {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

inline bool Get(const object& o, std::string_view key, element* out) {
  return o.at_key(key).get(*out) == simdjson::SUCCESS;
}

inline bool Has(const object& o, std::string_view key) {
  element e;
  return Get(o, key, &e);
}

inline std::string_view GetString(const object& o, std::string_view key) {
  element e;
  std::string_view s;
  if (Get(o, key, &e) && e.get_string().get(s) == simdjson::SUCCESS) return s;
  return {};
}

// An A_Expr's kind: libpg_query spells it as a string ("AEXPR_OP"); it is read here once so the
// walkers branch on an enum.
enum class AExprKind {
  kOp,
  kOpAny,
  kOpAll,
  kDistinct,
  kNotDistinct,
  kNullIf,
  kIn,
  kLike,
  kILike,
  kSimilar,
  kBetween,
  kNotBetween,
  kBetweenSym,
  kNotBetweenSym,
  kOther,
};

inline AExprKind AExprKindOf(const object& a_expr) {
  static constexpr std::pair<std::string_view, AExprKind> kKinds[] = {
      {"AEXPR_OP", AExprKind::kOp},
      {"AEXPR_OP_ANY", AExprKind::kOpAny},
      {"AEXPR_OP_ALL", AExprKind::kOpAll},
      {"AEXPR_DISTINCT", AExprKind::kDistinct},
      {"AEXPR_NOT_DISTINCT", AExprKind::kNotDistinct},
      {"AEXPR_NULLIF", AExprKind::kNullIf},
      {"AEXPR_IN", AExprKind::kIn},
      {"AEXPR_LIKE", AExprKind::kLike},
      {"AEXPR_ILIKE", AExprKind::kILike},
      {"AEXPR_SIMILAR", AExprKind::kSimilar},
      {"AEXPR_BETWEEN", AExprKind::kBetween},
      {"AEXPR_NOT_BETWEEN", AExprKind::kNotBetween},
      {"AEXPR_BETWEEN_SYM", AExprKind::kBetweenSym},
      {"AEXPR_NOT_BETWEEN_SYM", AExprKind::kNotBetweenSym},
  };
  element e;
  std::string_view name;
  if (!Get(a_expr, "kind", &e) || e.get_string().get(name) != simdjson::SUCCESS) {
    return AExprKind::kOther;
  }
  for (const auto& [text, kind] : kKinds) {
    if (text == name) return kind;
  }
  return AExprKind::kOther;
}

inline int64_t GetInt(const object& o, std::string_view key, int64_t fallback) {
  element e;
  int64_t v;
  if (Get(o, key, &e) && e.get_int64().get(v) == simdjson::SUCCESS) return v;
  return fallback;
}

inline bool GetBool(const object& o, std::string_view key) {
  element e;
  bool v;
  return Get(o, key, &e) && e.get_bool().get(v) == simdjson::SUCCESS && v;
}

inline std::vector<element> GetList(const object& o, std::string_view key) {
  std::vector<element> out;
  element e;
  array a;
  if (Get(o, key, &e) && e.get_array().get(a) == simdjson::SUCCESS) {
    for (element item : a) out.push_back(item);
  }
  return out;
}

// A node is {"TypeName": {...fields...}}.
inline bool Unwrap(const element& node, std::string_view* type, object* body) {
  object o;
  if (node.get_object().get(o) != simdjson::SUCCESS) return false;
  for (auto field : o) {
    *type = field.key;
    return field.value.get_object().get(*body) == simdjson::SUCCESS;
  }
  return false;
}

inline std::string_view NodeType(const element& node) {
  std::string_view type;
  object body;
  if (!Unwrap(node, &type, &body)) return {};
  return type;
}

// {"String": {"sval": "x"}} -> "x".
inline std::string_view StringNode(const element& node) {
  std::string_view type;
  object body;
  if (!Unwrap(node, &type, &body) || type != "String") return {};
  return GetString(body, "sval");
}

// The first "location" >= 0 anywhere inside `e`, or -1.
inline int64_t FindLocation(const element& e) {
  object o;
  array a;
  if (e.get_object().get(o) == simdjson::SUCCESS) {
    const int64_t loc = GetInt(o, "location", -1);
    if (loc >= 0) return loc;
    for (auto field : o) {
      const int64_t inner = FindLocation(field.value);
      if (inner >= 0) return inner;
    }
  } else if (e.get_array().get(a) == simdjson::SUCCESS) {
    for (element item : a) {
      const int64_t inner = FindLocation(item);
      if (inner >= 0) return inner;
    }
  }
  return -1;
}

// libpg_query's error cursorpos (1-based, in characters) as a byte offset into `text`;
// `fallback` when it gives none.
inline int64_t CursorOffset(std::string_view text, int cursorpos, int64_t fallback) {
  if (cursorpos <= 0) return fallback;
  int64_t chars = cursorpos - 1;
  size_t i = 0;
  while (i < text.size() && chars > 0) {
    ++i;
    while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) ++i;
    --chars;
  }
  return static_cast<int64_t>(i);
}

}  // namespace sv::sql::internal
