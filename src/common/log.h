#pragma once
// Structured logs: one JSON object per line on stderr, e.g.
//   {"ts":"…","level":"warn","msg":"dead letter","source":"orders","key":"o-1","position":"42"}
// One fprintf per line, so lines from several threads never interleave.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace sv {

using LogField = std::pair<std::string_view, std::string_view>;

// Escapes a string for a JSON string literal (quotes, backslashes, control characters).
std::string JsonEscape(std::string_view s);

// The span a thread is working inside (set by trace/): every line it logs meanwhile carries
// "trace_id" and "span_id", so logs and traces join.
struct LogTraceContext {
  char trace_id[33] = {};  // 32 lowercase hex digits and a NUL
  char span_id[17] = {};   // 16 and a NUL
};
// Makes `next` (null: none) the calling thread's context; returns the one it replaces.
const LogTraceContext* ExchangeLogTraceContext(const LogTraceContext* next);

void LogJson(std::string_view level, std::string_view msg,
             std::initializer_list<LogField> fields = {});

}  // namespace sv
