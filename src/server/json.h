#pragma once
// JSON output for the REST layer (RapidJSON writers): values typed as the view declares them,
// error bodies, and a small builder for the ops documents.

#include <string>
#include <string_view>

#include "common/value.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "store/store.h"

namespace sv::server {

// RapidJSON's writer, except that a non-finite number (which JSON cannot hold; RapidJSON's own
// Double() would fail and leave `"key":,` behind) is written as null.
class JsonWriter : public rapidjson::Writer<rapidjson::StringBuffer> {
 public:
  using rapidjson::Writer<rapidjson::StringBuffer>::Writer;
  bool Double(double d);
};

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code points > U+10FFFF).
bool IsValidUtf8(std::string_view s);
// `s` with every ill-formed UTF-8 sequence replaced by U+FFFD (the WHATWG decoder's rule: one
// replacement per maximal invalid subpart).
std::string ToValidUtf8(std::string_view s);
// A JSON string of `s`, made valid UTF-8 first (RapidJSON copies bytes as they are).
void WriteText(JsonWriter& w, std::string_view s);

// NULL -> null, bool, integers, reals (shortest round-trip; null when not finite), text, timestamps
// as ISO-8601 text, intervals as integer microseconds.
void WriteValue(JsonWriter& w, const Value& v);
// {"col": value, ...} in declared column order.
void WriteRow(JsonWriter& w, const store::TableSpec& table, const Row& row);
// {"error": message[, "parameter": name]}
std::string ErrorBody(std::string_view message, std::string_view parameter = {});
// A stable content hash of a row (FNV-1a over its encoding), for ETags: the same row content
// gives the same tag in every process and after restarts.
std::string RowETag(const Row& row);

// Deeper documents are refused before they are parsed: the DOM's writers recurse.
inline constexpr int kMaxJsonDepth = 128;
// Whether JSON text nests arrays and objects deeper than `max_depth` (strings skipped);
// iterative, so any input is safe to scan.
bool JsonNestingExceeds(std::string_view text, int max_depth);

}  // namespace sv::server
