#include "common/log.h"

#include <cstdio>

#include "common/time_util.h"

namespace sv {

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

namespace {
thread_local const LogTraceContext* current_trace = nullptr;
}  // namespace

const LogTraceContext* ExchangeLogTraceContext(const LogTraceContext* next) {
  const LogTraceContext* previous = current_trace;
  current_trace = next;
  return previous;
}

void LogJson(std::string_view level, std::string_view msg, std::initializer_list<LogField> fields) {
  std::string line = "{\"ts\":\"" + FormatTime(Clock::Real()->NowMicros()) + "\",\"level\":\"" +
                     JsonEscape(level) + "\",\"msg\":\"" + JsonEscape(msg) + "\"";
  for (const auto& [name, value] : fields) {
    line += ",\"" + JsonEscape(name) + "\":\"" + JsonEscape(value) + "\"";
  }
  if (current_trace != nullptr) {
    line += ",\"trace_id\":\"";
    line += current_trace->trace_id;
    line += "\",\"span_id\":\"";
    line += current_trace->span_id;
    line += "\"";
  }
  line += "}\n";
  std::fputs(line.c_str(), stderr);
}

}  // namespace sv
