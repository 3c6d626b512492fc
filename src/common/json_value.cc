#include "common/json_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"

namespace sv {
namespace {

constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53

void AppendNumber(double d, std::string* out) {
  if (std::trunc(d) == d && std::fabs(d) <= kMaxExactInteger) {
    absl::StrAppend(out, static_cast<int64_t>(d));  // also turns -0 into 0
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  out->append(buf, ec == std::errc() ? end : buf);
}

// Sorts members by key, keeping the last of a repeated key, and writes the object.
void AppendObject(std::vector<std::pair<std::string, std::string>>& members, std::string* out) {
  std::stable_sort(members.begin(), members.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  out->push_back('{');
  bool first = true;
  for (size_t i = 0; i < members.size(); ++i) {
    if (i + 1 < members.size() && members[i + 1].first == members[i].first) continue;
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(members[i].first, out);
    out->push_back(':');
    out->append(members[i].second);
  }
  out->push_back('}');
}

}  // namespace

void AppendCanonicalJson(simdjson::dom::element e, std::string* out) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::OBJECT: {
      std::vector<std::pair<std::string, std::string>> members;
      simdjson::dom::object object;
      if (e.get_object().get(object) != simdjson::SUCCESS) return;
      for (auto field : object) {
        std::string value;
        AppendCanonicalJson(field.value, &value);
        members.emplace_back(std::string(field.key), std::move(value));
      }
      AppendObject(members, out);
      return;
    }
    case element_type::ARRAY: {
      out->push_back('[');
      bool first = true;
      simdjson::dom::array array;
      if (e.get_array().get(array) != simdjson::SUCCESS) return;
      for (simdjson::dom::element item : array) {
        if (!first) out->push_back(',');
        first = false;
        AppendCanonicalJson(item, out);
      }
      out->push_back(']');
      return;
    }
    case element_type::INT64:
      absl::StrAppend(out, e.get_int64().value_unsafe());
      return;
    case element_type::UINT64:
      absl::StrAppend(out, e.get_uint64().value_unsafe());
      return;
    case element_type::DOUBLE:
      AppendNumber(e.get_double().value_unsafe(), out);
      return;
    case element_type::STRING:
      AppendJsonString(e.get_string().value_unsafe(), out);
      return;
    case element_type::BOOL:
      out->append(e.get_bool().value_unsafe() ? "true" : "false");
      return;
    case element_type::NULL_VALUE:
      out->append("null");
      return;
  }
}

absl::StatusOr<std::string> CanonicalJson(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  const simdjson::padded_string padded(text);
  if (auto error = parser.parse(padded).get(root); error != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("not JSON (", simdjson::error_message(error), ")"));
  }
  std::string out;
  AppendCanonicalJson(root, &out);
  return out;
}

void AppendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[(c >> 4) & 0xF]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void AppendJsonValue(const Value& value, std::string* out) {
  switch (value.type()) {
    case Type::kNull:
      out->append("null");
      return;
    case Type::kBool:
      out->append(value.as_bool() ? "true" : "false");
      return;
    case Type::kInt:
    case Type::kInterval:  // integer microseconds, as the REST API serves intervals
      absl::StrAppend(out, value.as_int());
      return;
    case Type::kReal:
      if (std::isfinite(value.as_real())) {
        AppendNumber(value.as_real(), out);
      } else {
        AppendJsonString(value.ToString(), out);  // JSON has no NaN or infinity
      }
      return;
    case Type::kJson:
      out->append(value.as_text());
      return;
    default:
      AppendJsonString(value.ToString(), out);
  }
}

void JsonObjectBuilder::Add(std::string key, const Value& value) {
  std::string text;
  AppendJsonValue(value, &text);
  members_.emplace_back(std::move(key), std::move(text));
}

std::string JsonObjectBuilder::Finish() {
  std::string out;
  AppendObject(members_, &out);
  members_.clear();
  return out;
}

}  // namespace sv
