// JSON builders: json_build_object, json_build_array and to_json (and their jsonb names, the
// same here: every JSON value is canonical, common/json_value.h).

#include "common/json_value.h"
#include "sql/expr_internal.h"

namespace sv::sql::internal {

absl::Status FnJsonBuildObject(const Value* args, int n, Value* out) {
  if (n % 2 != 0) {
    return absl::InvalidArgumentError(
        "json_build_object() takes an even number of arguments: key, value, ...");
  }
  JsonObjectBuilder builder;
  for (int i = 0; i < n; i += 2) {
    if (args[i].is_null()) {
      return absl::InvalidArgumentError(
          Cat("json_build_object(): argument ", i + 1, " is a key and must not be NULL"));
    }
    if (args[i].type() == Type::kJson) {
      return absl::InvalidArgumentError(
          Cat("json_build_object(): argument ", i + 1, " is a key and must be a scalar"));
    }
    builder.Add(ToText(args[i]), args[i + 1]);
  }
  *out = Value::Json(builder.Finish());
  return absl::OkStatus();
}

absl::Status FnJsonBuildArray(const Value* args, int n, Value* out) {
  std::string json = "[";
  for (int i = 0; i < n; ++i) {
    if (i > 0) json.push_back(',');
    AppendJsonValue(args[i], &json);
  }
  json.push_back(']');
  *out = Value::Json(std::move(json));
  return absl::OkStatus();
}

absl::Status FnToJson(const Value* args, int, Value* out) {
  std::string json;
  AppendJsonValue(args[0], &json);
  *out = Value::Json(std::move(json));
  return absl::OkStatus();
}

}  // namespace sv::sql::internal
