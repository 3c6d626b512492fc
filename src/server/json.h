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

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// NULL -> null, bool, integers, reals (shortest round-trip), text, timestamps as ISO-8601 text,
// intervals as integer microseconds.
void WriteValue(JsonWriter& w, const Value& v);
// {"col": value, ...} in declared column order.
void WriteRow(JsonWriter& w, const store::TableSpec& table, const Row& row);
// {"error": message[, "parameter": name]}
std::string ErrorBody(std::string_view message, std::string_view parameter = {});
// A stable content hash of a row (FNV-1a over its encoding), for ETags: the same row content
// gives the same tag in every process and after restarts.
std::string RowETag(const Row& row);

}  // namespace sv::server
