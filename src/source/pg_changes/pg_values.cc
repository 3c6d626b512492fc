#include "source/pg_changes/pg_values.h"

#include <string>

#include "absl/strings/ascii.h"
#include "rapidjson/document.h"

namespace sv::source::pg {
namespace {

// Type OIDs (pg_type.dat); stable across PostgreSQL versions.
constexpr uint32_t kBool = 16, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kJson = 114,
                   kFloat4 = 700, kFloat8 = 701, kTimestamp = 1114, kTimestamptz = 1184,
                   kNumeric = 1700, kJsonb = 3802;

// The element type of an array type, 0 when `oid` is not an array this knows.
uint32_t ElementOf(uint32_t oid) {
  switch (oid) {
    case 1000:
      return kBool;
    case 1005:
      return kInt2;
    case 1007:
      return kInt4;
    case 1016:
      return kInt8;
    case 1021:
      return kFloat4;
    case 1022:
      return kFloat8;
    case 1231:
      return kNumeric;
    case 1115:
      return kTimestamp;
    case 1185:
      return kTimestamptz;
    case 199:
      return kJson;
    case 3807:
      return kJsonb;
    case 1009:    // text[]
    case 1015:    // varchar[]
    case 1014:    // bpchar[]
    case 2951:    // uuid[]
    case 1182:    // date[]
      return 25;  // as text
    default:
      return 0;
  }
}

bool IsNumberText(std::string_view s) {
  if (s.empty()) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  bool digits = false, dot = false, exp = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      digits = true;
    } else if (c == '.' && !dot && !exp) {
      dot = true;
    } else if ((c == 'e' || c == 'E') && digits && !exp) {
      exp = true;
      digits = false;
      if (i + 1 < s.size() && (s[i + 1] == '+' || s[i + 1] == '-')) ++i;
    } else {
      return false;
    }
  }
  return digits;
}

// A PostgreSQL array literal ("{1,2}", "{{a,b},{c,NULL}}", quoted elements with backslash
// escapes) written as a JSON array of `element` values. False when the text does not parse.
bool WriteArray(JsonWriter& w, uint32_t element, std::string_view s, size_t* pos) {
  if (*pos >= s.size() || s[*pos] != '{') return false;
  ++*pos;
  w.StartArray();
  if (*pos < s.size() && s[*pos] == '}') {
    ++*pos;
    w.EndArray();
    return true;
  }
  while (*pos < s.size()) {
    if (s[*pos] == '{') {
      if (!WriteArray(w, element, s, pos)) return false;
    } else if (s[*pos] == '"') {
      std::string item;
      ++*pos;
      while (*pos < s.size() && s[*pos] != '"') {
        if (s[*pos] == '\\' && *pos + 1 < s.size()) ++*pos;
        item.push_back(s[(*pos)++]);
      }
      if (*pos >= s.size()) return false;
      ++*pos;
      WriteValue(w, element, item);
    } else {
      const size_t end = s.find_first_of(",}", *pos);
      if (end == std::string_view::npos) return false;
      const std::string_view item = s.substr(*pos, end - *pos);
      if (item == "NULL") {
        w.Null();
      } else {
        WriteValue(w, element, item);
      }
      *pos = end;
    }
    if (*pos >= s.size()) return false;
    if (s[*pos] == ',') {
      ++*pos;
      continue;
    }
    if (s[*pos] == '}') {
      ++*pos;
      w.EndArray();
      return true;
    }
    return false;
  }
  return false;
}

void WriteString(JsonWriter& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

}  // namespace

std::string IsoTimestamp(std::string_view text) {
  std::string out(text);
  if (out.size() < 19 || out[10] != ' ') return out;  // infinity, BC dates, ...
  out[10] = 'T';
  // The zone: "+00" -> "Z"; "+05:30" stays; none (timestamp without time zone) -> UTC.
  const size_t zone = out.find_first_of("+-", 19);
  if (zone == std::string::npos) return out + "Z";
  std::string offset = out.substr(zone);
  out.resize(zone);
  if (offset == "+00" || offset == "-00" || offset == "+00:00") return out + "Z";
  if (offset.size() == 3) offset += ":00";
  return out + offset;
}

void WriteValue(JsonWriter& w, uint32_t type_oid, std::string_view text) {
  switch (type_oid) {
    case kBool:
      w.Bool(text == "t" || text == "true");
      return;
    case kInt2:
    case kInt4:
    case kInt8:
    case kOid:
    case kFloat4:
    case kFloat8:
    case kNumeric:
      // The exact digits (numeric keeps its scale); NaN and infinities are not JSON numbers.
      if (IsNumberText(text)) {
        w.RawValue(text.data(), text.size(), rapidjson::kNumberType);
      } else {
        WriteString(w, text);
      }
      return;
    case kJson:
    case kJsonb: {
      rapidjson::Document doc;
      doc.Parse(text.data(), text.size());
      if (!doc.HasParseError()) {
        w.RawValue(text.data(), text.size(), doc.GetType());
      } else {
        WriteString(w, text);
      }
      return;
    }
    case kTimestamp:
    case kTimestamptz: {
      const std::string iso = IsoTimestamp(text);
      WriteString(w, iso);
      return;
    }
    default:
      break;
  }
  if (const uint32_t element = ElementOf(type_oid); element != 0) {
    // Written into a scratch buffer first: a literal that does not parse stays a string.
    rapidjson::StringBuffer scratch;
    JsonWriter inner(scratch);
    size_t pos = 0;
    if (WriteArray(inner, element, text, &pos) && pos == text.size()) {
      w.RawValue(scratch.GetString(), scratch.GetSize(), rapidjson::kArrayType);
      return;
    }
  }
  WriteString(w, text);
}

}  // namespace sv::source::pg
