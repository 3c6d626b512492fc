#include "server/json.h"

#include "absl/strings/str_cat.h"
#include "common/time_util.h"

namespace sv::server {

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
      w.String(v.as_text().data(), static_cast<rapidjson::SizeType>(v.as_text().size()));
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
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
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

}  // namespace sv::server
