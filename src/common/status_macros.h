#pragma once
// Error propagation for absl::Status / absl::StatusOr (abseil ships no public macros).

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SV_CONCAT_INNER(a, b) a##b
#define SV_CONCAT(a, b) SV_CONCAT_INNER(a, b)

#define SV_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status sv_status_ = (expr);      \
    if (!sv_status_.ok()) return sv_status_; \
  } while (0)

#define SV_ASSIGN_OR_RETURN(lhs, expr) \
  SV_ASSIGN_OR_RETURN_IMPL(SV_CONCAT(sv_statusor_, __LINE__), lhs, expr)
// `tmp` and `lhs` are declarations, which parentheses would break.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define SV_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
