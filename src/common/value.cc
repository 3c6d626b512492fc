#include "common/value.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "common/value_key.h"

namespace sv {

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "boolean";
    case Type::kInt:
      return "integer";
    case Type::kReal:
      return "numeric";
    case Type::kText:
      return "text";
    case Type::kTime:
      return "timestamp";
    case Type::kInterval:
      return "interval";
    case Type::kJson:
      return "json";
  }
  return "?";
}

bool Value::operator==(const Value& other) const {
  if (type_ != other.type_) return false;
  switch (type_) {
    case Type::kNull:
      return true;
    case Type::kReal:
      return real_ == other.real_;
    case Type::kText:
    case Type::kJson:
      return text_ == other.text_;
    default:
      return int_ == other.int_;
  }
}

std::string Value::ToString() const {
  switch (type_) {
    case Type::kNull:
      return "NULL";
    case Type::kBool:
      return int_ ? "true" : "false";
    case Type::kInt:
      return absl::StrCat(int_);
    case Type::kReal:
      return absl::StrCat(real_);
    case Type::kText:
    case Type::kJson:
      return text_;
    case Type::kTime:
      return FormatTime(int_);
    case Type::kInterval:
      return absl::StrCat(int_, "us");
  }
  return "?";
}

int Compare(const Value& a, const Value& b, bool* ok) {
  *ok = true;
  if (a.is_number() && b.is_number()) {
    if (a.type() == Type::kInt && b.type() == Type::kInt) {
      return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
    }
    const double x = a.as_number(), y = b.as_number();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.type() != b.type() || a.is_null()) {
    *ok = false;
    return 0;
  }
  // JSON compares by its canonical text: equality is exact, the order only deterministic.
  if (a.type() == Type::kText || a.type() == Type::kJson) {
    const int c = a.as_text().compare(b.as_text());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
}

namespace {

// Order-preserving integer: a tag that encodes sign and byte length, then big-endian bytes, so
// small numbers (line numbers, ids) take two or three bytes and keys stay inside std::string's
// small-buffer.
void EncodeOrderedInt(int64_t v, std::string* out) {
  uint64_t w = v >= 0 ? static_cast<uint64_t>(v) : ~static_cast<uint64_t>(v);
  int n = 0;
  for (uint64_t t = w; t != 0; t >>= 8) ++n;
  if (v >= 0) {
    out->push_back(static_cast<char>(0x20 + n));
  } else {
    out->push_back(static_cast<char>(0x1F - n));
    w = ~w;
  }
  for (int i = n - 1; i >= 0; --i) out->push_back(static_cast<char>((w >> (8 * i)) & 0xFF));
}

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    result |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

enum RowTag : char {
  kRowNull,
  kRowFalse,
  kRowTrue,
  kRowInt,
  kRowReal,
  kRowText,
  kRowTime,
  kRowInterval,
  kRowJson
};

}  // namespace

std::string EncodeKeyOf(const Row& row, const std::vector<int>& columns) {
  Row key;
  key.reserve(columns.size());
  for (int c : columns) key.push_back(row[c]);
  std::string encoded;
  EncodeKey(key.data(), key.size(), &encoded);
  return encoded;
}

void EncodeKey(const Value* values, size_t n, std::string* out) {
  for (size_t i = 0; i < n; ++i) {
    const Value& v = values[i];
    switch (v.type()) {
      case Type::kNull:
        out->push_back(0x01);
        break;
      case Type::kBool:
        out->push_back(v.as_bool() ? 0x03 : 0x02);
        break;
      case Type::kInt:
        EncodeOrderedInt(v.as_int(), out);
        break;
      case Type::kReal: {
        uint64_t bits;
        const double d = v.as_real();
        std::memcpy(&bits, &d, sizeof(bits));
        bits = (bits & (1ULL << 63)) ? ~bits : bits | (1ULL << 63);
        out->push_back(0x30);
        for (int b = 7; b >= 0; --b) out->push_back(static_cast<char>((bits >> (8 * b)) & 0xFF));
        break;
      }
      case Type::kText:
      case Type::kJson:
        out->push_back(v.type() == Type::kText ? 0x40 : 0x60);
        for (char c : v.as_text()) {
          out->push_back(c);
          if (c == '\0') out->push_back('\xFF');
        }
        out->push_back('\0');
        out->push_back('\x01');
        break;
      case Type::kTime:
        out->push_back(0x50);
        EncodeOrderedInt(v.as_int(), out);
        break;
      case Type::kInterval:
        out->push_back(0x51);
        EncodeOrderedInt(v.as_int(), out);
        break;
    }
  }
}

namespace {

// EncodeOrderedInt's inverse, after its tag: `n` big-endian bytes of a number of that sign.
bool DecodeOrderedInt(char tag, std::string_view* in, int64_t* v) {
  const auto t = static_cast<uint8_t>(tag);
  const bool negative = t < 0x20;
  const int n = negative ? 0x1F - t : t - 0x20;
  if (n < 0 || n > 8 || in->size() < static_cast<size_t>(n)) return false;
  uint64_t w = 0;
  for (int i = 0; i < n; ++i) w = (w << 8) | static_cast<uint8_t>((*in)[i]);
  in->remove_prefix(static_cast<size_t>(n));
  // A negative number's bytes above its n were all ones.
  if (negative && n < 8) w |= ~uint64_t{0} << (8 * n);
  *v = static_cast<int64_t>(w);
  return true;
}

}  // namespace

bool DecodeKey(std::string_view in, Row* out) {
  out->clear();
  while (!in.empty()) {
    const char tag = in.front();
    in.remove_prefix(1);
    const auto t = static_cast<uint8_t>(tag);
    int64_t i;
    if (t == 0x01) {
      out->emplace_back();
    } else if (t == 0x02 || t == 0x03) {
      out->push_back(Value::Bool(t == 0x03));
    } else if (t >= 0x17 && t <= 0x28) {
      if (!DecodeOrderedInt(tag, &in, &i)) return false;
      out->push_back(Value::Int(i));
    } else if (t == 0x30) {
      if (in.size() < 8) return false;
      uint64_t bits = 0;
      for (int b = 0; b < 8; ++b) bits = (bits << 8) | static_cast<uint8_t>(in[b]);
      in.remove_prefix(8);
      bits = (bits & (1ULL << 63)) ? bits & ~(1ULL << 63) : ~bits;
      double d;
      std::memcpy(&d, &bits, sizeof(d));
      out->push_back(Value::Real(d));
    } else if (t == 0x40 || t == 0x60) {
      std::string text;
      while (true) {
        if (in.size() < 2) return false;
        if (in[0] == '\0') {
          if (in[1] == '\x01') break;
          if (in[1] != '\xFF') return false;
        }
        text.push_back(in[0]);
        in.remove_prefix(in[0] == '\0' ? 2 : 1);
      }
      in.remove_prefix(2);
      out->push_back(t == 0x40 ? Value::Text(std::move(text)) : Value::Json(std::move(text)));
    } else if (t == 0x50 || t == 0x51) {
      if (in.empty()) return false;
      const char int_tag = in.front();
      in.remove_prefix(1);
      const auto it = static_cast<uint8_t>(int_tag);
      if (it < 0x17 || it > 0x28 || !DecodeOrderedInt(int_tag, &in, &i)) return false;
      out->push_back(t == 0x50 ? Value::Time(i) : Value::Interval(i));
    } else {
      return false;
    }
  }
  return true;
}

void EncodeRow(const Row& row, std::string* out) {
  for (const Value& v : row) {
    switch (v.type()) {
      case Type::kNull:
        out->push_back(kRowNull);
        break;
      case Type::kBool:
        out->push_back(v.as_bool() ? kRowTrue : kRowFalse);
        break;
      case Type::kInt:
        out->push_back(kRowInt);
        PutVarint(ZigZag(v.as_int()), out);
        break;
      case Type::kReal: {
        out->push_back(kRowReal);
        const double d = v.as_real();
        out->append(reinterpret_cast<const char*>(&d), sizeof(d));
        break;
      }
      case Type::kText:
      case Type::kJson:
        out->push_back(v.type() == Type::kText ? kRowText : kRowJson);
        PutVarint(v.as_text().size(), out);
        out->append(v.as_text());
        break;
      case Type::kTime:
        out->push_back(kRowTime);
        PutVarint(ZigZag(v.as_int()), out);
        break;
      case Type::kInterval:
        out->push_back(kRowInterval);
        PutVarint(ZigZag(v.as_int()), out);
        break;
    }
  }
}

bool DecodeRow(std::string_view in, Row* out) {
  out->clear();
  while (!in.empty()) {
    const char tag = in.front();
    in.remove_prefix(1);
    uint64_t u;
    switch (tag) {
      case kRowNull:
        out->emplace_back();
        break;
      case kRowFalse:
      case kRowTrue:
        out->push_back(Value::Bool(tag == kRowTrue));
        break;
      case kRowInt:
      case kRowTime:
      case kRowInterval: {
        if (!GetVarint(&in, &u)) return false;
        const int64_t i = UnZigZag(u);
        out->push_back(tag == kRowInt    ? Value::Int(i)
                       : tag == kRowTime ? Value::Time(i)
                                         : Value::Interval(i));
        break;
      }
      case kRowReal: {
        if (in.size() < sizeof(double)) return false;
        double d;
        std::memcpy(&d, in.data(), sizeof(d));
        in.remove_prefix(sizeof(d));
        out->push_back(Value::Real(d));
        break;
      }
      case kRowText:
      case kRowJson: {
        if (!GetVarint(&in, &u) || in.size() < u) return false;
        std::string text(in.substr(0, u));
        out->push_back(tag == kRowText ? Value::Text(std::move(text))
                                       : Value::Json(std::move(text)));
        in.remove_prefix(u);
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

}  // namespace sv
