#pragma once
// A dynamically typed SQL value, the currency of expressions, rows and stores.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sv {

// Column and value types. kTime is microseconds since the Unix epoch (UTC); kInterval is a
// signed duration in microseconds. Stores persist kTime as ISO-8601 text (see FormatTime).
// kJson is a JSON document (object, array or scalar) held as canonical text (common/json_value.h).
enum class Type : uint8_t { kNull, kBool, kInt, kReal, kText, kTime, kInterval, kJson };

std::string_view TypeName(Type type);

class Value {
 public:
  Value() = default;
  static Value Null() { return Value(); }
  static Value Bool(bool b) { return Value(Type::kBool, b ? 1 : 0); }
  static Value Int(int64_t i) { return Value(Type::kInt, i); }
  static Value Real(double d) {
    Value v;
    v.type_ = Type::kReal;
    v.real_ = d;
    return v;
  }
  static Value Text(std::string s) {
    Value v;
    v.type_ = Type::kText;
    v.text_ = std::move(s);
    return v;
  }
  // `canonical` must be canonical JSON text (CanonicalJson, AppendJsonValue).
  static Value Json(std::string canonical) {
    Value v;
    v.type_ = Type::kJson;
    v.text_ = std::move(canonical);
    return v;
  }
  static Value Time(int64_t micros) { return Value(Type::kTime, micros); }
  static Value Interval(int64_t micros) { return Value(Type::kInterval, micros); }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool as_bool() const { return int_ != 0; }
  int64_t as_int() const { return int_; }  // kInt, kBool, kTime, kInterval
  double as_real() const { return real_; }
  const std::string& as_text() const { return text_; }  // kText, kJson
  // kInt or kReal as a double.
  double as_number() const { return type_ == Type::kReal ? real_ : static_cast<double>(int_); }
  bool is_number() const { return type_ == Type::kInt || type_ == Type::kReal; }

  // Exact equality of type and payload (NULL equals NULL here: this is identity, not SQL '=').
  bool operator==(const Value& other) const;
  // Human/debug rendering; kText unquoted, kTime as ISO-8601.
  std::string ToString() const;

 private:
  Value(Type t, int64_t i) : type_(t), int_(i) {}
  Type type_ = Type::kNull;
  int64_t int_ = 0;
  double real_ = 0;
  std::string text_;
};

using Row = std::vector<Value>;

// SQL-style three-valued comparison helpers. Compare returns <0, 0, >0 for two non-null values
// of comparable types (numbers with numbers, text with text, ...); ok=false otherwise.
int Compare(const Value& a, const Value& b, bool* ok);

// Compact, order-preserving byte encoding of a key tuple: memcmp order of two encodings equals
// the tuple order. Used for working-set maps and for key-ordered bulk writes.
void EncodeKey(const Value* values, size_t n, std::string* out);
// EncodeKey of the values of `row` at `columns` (a table's key columns), in that order.
std::string EncodeKeyOf(const Row& row, const std::vector<int>& columns);
// Compact row encoding (not order-preserving) for the in-memory working set.
void EncodeRow(const Row& row, std::string* out);
bool DecodeRow(std::string_view data, Row* out);

}  // namespace sv
