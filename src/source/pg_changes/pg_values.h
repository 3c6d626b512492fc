#pragma once
// PostgreSQL values (their text output, as pgoutput and a text-format query send them) written
// as JSON, faithfully: integers and numeric as JSON numbers with their exact digits, booleans,
// json/jsonb nested, arrays as JSON arrays, timestamps as ISO-8601 UTC ("...T...Z"); NaN and
// infinities, and every other type, as strings. The snapshot and the stream share this, so a row
// reads the same whichever way it arrived.

#include <cstdint>
#include <string_view>

#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace sv::source::pg {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Writes the value of type `type_oid` whose text form is `text`.
void WriteValue(JsonWriter& w, uint32_t type_oid, std::string_view text);

// "2024-03-05 10:00:00.5+00" (session TimeZone UTC, DateStyle ISO) -> "2024-03-05T10:00:00.5Z";
// a timestamp without time zone is read as UTC.
std::string IsoTimestamp(std::string_view text);

}  // namespace sv::source::pg
