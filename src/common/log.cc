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

void LogJson(std::string_view level, std::string_view msg, std::initializer_list<LogField> fields) {
  std::string line = "{\"ts\":\"" + FormatTime(Clock::Real()->NowMicros()) + "\",\"level\":\"" +
                     JsonEscape(level) + "\",\"msg\":\"" + JsonEscape(msg) + "\"";
  for (const auto& [name, value] : fields) {
    line += ",\"" + JsonEscape(name) + "\":\"" + JsonEscape(value) + "\"";
  }
  line += "}\n";
  std::fputs(line.c_str(), stderr);
}

}  // namespace sv
