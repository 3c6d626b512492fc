// Public values ↔ the engine's values, statuses, cursors.

#include <chrono>
#include <string>
#include <variant>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "api/api_internal.h"
#include "common/json_value.h"

namespace streamview {

Status FromAbsl(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return Status();
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
      return Status(Code::kInvalidArgument, std::string(status.message()));
    case absl::StatusCode::kFailedPrecondition:
      return Status(Code::kFailedPrecondition, std::string(status.message()));
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
      return Status(Code::kUnavailable, std::string(status.message()));
    default:
      return Status(Code::kInternal, std::string(status.message()));
  }
}

Status Invalid(std::string message) { return Status(Code::kInvalidArgument, std::move(message)); }

sv::Type StoreType(ColumnType type) {
  switch (type) {
    case ColumnType::kBool:
      return sv::Type::kBool;
    case ColumnType::kInt:
      return sv::Type::kInt;
    case ColumnType::kReal:
      return sv::Type::kReal;
    case ColumnType::kText:
      return sv::Type::kText;
    case ColumnType::kTime:
      return sv::Type::kTime;
    case ColumnType::kJson:
      return sv::Type::kJson;
  }
  return sv::Type::kText;
}

absl::StatusOr<sv::Value> ToStore(const Value& value, ColumnType type, const std::string& column) {
  if (std::holds_alternative<std::monostate>(value)) return sv::Value::Null();
  auto wrong = [&](const char* want) {
    return absl::InvalidArgumentError(
        absl::StrCat("column ", column, " holds ", want, "; the value given is not one"));
  };
  switch (type) {
    case ColumnType::kBool:
      if (const bool* b = std::get_if<bool>(&value)) return sv::Value::Bool(*b);
      return wrong("a bool");
    case ColumnType::kInt:
      if (const int64_t* i = std::get_if<int64_t>(&value)) return sv::Value::Int(*i);
      return wrong("an integer");
    case ColumnType::kTime:
      if (const int64_t* i = std::get_if<int64_t>(&value)) return sv::Value::Time(*i);
      return wrong("a time (integer microseconds)");
    case ColumnType::kReal:
      if (const double* d = std::get_if<double>(&value)) return sv::Value::Real(*d);
      if (const int64_t* i = std::get_if<int64_t>(&value)) {
        return sv::Value::Real(static_cast<double>(*i));
      }
      return wrong("a number");
    case ColumnType::kText:
      if (const std::string* s = std::get_if<std::string>(&value)) return sv::Value::Text(*s);
      return wrong("text");
    case ColumnType::kJson: {
      const std::string* s = std::get_if<std::string>(&value);
      if (s == nullptr) return wrong("JSON text");
      absl::StatusOr<std::string> canonical = sv::CanonicalJson(*s);
      if (!canonical.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("column ", column, ": not JSON: ", canonical.status().message()));
      }
      return sv::Value::Json(std::move(*canonical));
    }
  }
  return wrong("a known type");
}

Value FromStore(const sv::Value& value) {
  switch (value.type()) {
    case sv::Type::kNull:
      return std::monostate();
    case sv::Type::kBool:
      return value.as_bool();
    case sv::Type::kInt:
    case sv::Type::kTime:
    case sv::Type::kInterval:
      return value.as_int();
    case sv::Type::kReal:
      return value.as_real();
    case sv::Type::kText:
    case sv::Type::kJson:
      return value.as_text();
  }
  return std::monostate();
}

std::string EncodeCursor(const sv::Row& boundary) {
  std::string bytes;
  sv::EncodeRow(boundary, &bytes);
  return absl::StrCat("c1.", absl::WebSafeBase64Escape(bytes));
}

absl::StatusOr<sv::Row> DecodeCursor(const std::string& cursor, size_t size) {
  auto malformed = [] {
    return absl::InvalidArgumentError("malformed cursor: pass a Page::next_cursor unchanged");
  };
  if (cursor.rfind("c1.", 0) != 0) return malformed();
  std::string bytes;
  if (!absl::WebSafeBase64Unescape(cursor.substr(3), &bytes)) return malformed();
  sv::Row row;
  if (!sv::DecodeRow(bytes, &row) || row.size() != size) return malformed();
  return row;
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace streamview
