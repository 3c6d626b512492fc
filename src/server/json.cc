#include "server/json.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"

namespace sv::server {
namespace {

// Length of the well-formed UTF-8 sequence at s[i], or 0 (Unicode table 3-7).
size_t ValidSequenceAt(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

}  // namespace

bool JsonWriter::Double(double d) {
  if (!std::isfinite(d)) return Null();
  return rapidjson::Writer<rapidjson::StringBuffer>::Double(d);
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = ValidSequenceAt(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string ToValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = ValidSequenceAt(s, i);
    if (n > 0) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    out.append("\xEF\xBF\xBD");  // U+FFFD
    // Skip the lead byte and the continuation bytes that still fit its pattern.
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80 &&
           ValidSequenceAt(s, i) == 0) {
      ++i;
    }
  }
  return out;
}

void WriteText(JsonWriter& w, std::string_view s) {
  if (IsValidUtf8(s)) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    return;
  }
  const std::string valid = ToValidUtf8(s);
  w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
}

void WriteValue(JsonWriter& w, const Value& v) {
  switch (v.type()) {
    case Type::kNull:
      w.Null();
      return;
    case Type::kBool:
      w.Bool(v.as_bool());
      return;
    case Type::kInt:
    case Type::kInterval:
      w.Int64(v.as_int());
      return;
    case Type::kReal:
      w.Double(v.as_real());
      return;
    case Type::kText:
      WriteText(w, v.as_text());
      return;
    case Type::kJson:  // canonical JSON: nested as it is
      w.RawValue(v.as_text().data(), v.as_text().size(), rapidjson::kObjectType);
      return;
    case Type::kTime: {
      const std::string s = FormatTime(v.as_int());
      w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      return;
    }
  }
}

void WriteRow(JsonWriter& w, const store::TableSpec& table, const Row& row) {
  w.StartObject();
  for (size_t i = 0; i < table.columns.size() && i < row.size(); ++i) {
    const std::string& name = table.columns[i].name;
    w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    WriteValue(w, row[i]);
  }
  w.EndObject();
}

std::string ErrorBody(std::string_view message, std::string_view parameter) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("error");
  WriteText(w, message);
  if (!parameter.empty()) {
    w.Key("parameter");
    w.String(parameter.data(), static_cast<rapidjson::SizeType>(parameter.size()));
  }
  w.EndObject();
  return buf.GetString();
}

std::string RowETag(const Row& row) {
  std::string bytes;
  EncodeRow(row, &bytes);
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return absl::StrCat("\"", absl::Hex(h, absl::kZeroPad16), "\"");
}

bool JsonNestingExceeds(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace sv::server
