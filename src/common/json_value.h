#pragma once
// JSON values (Type::kJson) are held as canonical text: compact, object keys sorted bytewise (a
// repeated key keeps its last value), integral numbers within ±2^53 written as integers, other
// numbers in shortest round-trip form. One spelling per value, so equality is text equality,
// and a value read back from either store (PostgreSQL's jsonb reorders keys and adds spaces)
// equals the one written.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/value.h"
#include "simdjson.h"

namespace sv {

// Parses any JSON text and returns its canonical spelling; InvalidArgument says why it is not
// JSON.
absl::StatusOr<std::string> CanonicalJson(std::string_view text);

// Appends a parsed JSON value (an event's field) in canonical form.
void AppendCanonicalJson(simdjson::dom::element element, std::string* out);

// Appends `s` as a JSON string literal (quoted, escaped).
void AppendJsonString(std::string_view s, std::string* out);

// Appends a value as canonical JSON: NULL as null, booleans, numbers, text as a string,
// timestamps as ISO-8601 strings, intervals as integer microseconds, json as itself.
void AppendJsonValue(const Value& value, std::string* out);

// Builds a canonical JSON object from key/value pairs in any order (keys sorted, the last of a
// repeated key kept).
class JsonObjectBuilder {
 public:
  void Add(std::string key, const Value& value);
  std::string Finish();

 private:
  std::vector<std::pair<std::string, std::string>> members_;
};

}  // namespace sv
