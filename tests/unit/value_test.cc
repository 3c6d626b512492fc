// Key and row encodings of common/value.h: what they decode to is exactly what was encoded.

#include "common/value.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "common/value_key.h"

namespace sv {
namespace {

Row EveryKind() {
  using L = std::numeric_limits<int64_t>;
  return {Value::Null(),
          Value::Bool(false),
          Value::Bool(true),
          Value::Int(0),
          Value::Int(1),
          Value::Int(-1),
          Value::Int(255),
          Value::Int(-256),
          Value::Int(-257),
          Value::Int(L::max()),
          Value::Int(L::min()),
          Value::Real(0.0),
          Value::Real(-0.5),
          Value::Real(1e300),
          Value::Real(-std::numeric_limits<double>::infinity()),
          Value::Text(""),
          Value::Text(std::string("a\0b", 3)),
          Value::Text(std::string("\0", 1)),
          Value::Json(R"({"a":[1,2]})"),
          Value::Time(1'767'225'600'000'000),
          Value::Time(-5),
          Value::Interval(-86'400'000'000)};
}

TEST(ValueTest, AKeyDecodesToTheValuesItWasEncodedFrom) {
  const Row values = EveryKind();
  std::string key;
  EncodeKey(values.data(), values.size(), &key);
  Row decoded;
  ASSERT_TRUE(DecodeKey(key, &decoded));
  ASSERT_EQ(decoded.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(decoded[i].type(), values[i].type()) << i;
    EXPECT_TRUE(decoded[i] == values[i]) << i << ": " << decoded[i].ToString();
  }
  // Each value alone too (no neighbour to absorb a length error).
  for (const Value& v : values) {
    key.clear();
    EncodeKey(&v, 1, &key);
    ASSERT_TRUE(DecodeKey(key, &decoded)) << v.ToString();
    ASSERT_EQ(decoded.size(), 1u);
    EXPECT_TRUE(decoded[0] == v) << v.ToString();
  }
}

TEST(ValueTest, ATruncatedOrForeignKeyIsRefused) {
  const Row values = {Value::Text("abc"), Value::Int(-70000), Value::Real(2.5)};
  std::string key;
  EncodeKey(values.data(), values.size(), &key);
  Row decoded;
  for (size_t n = 1; n < key.size(); ++n) {
    // Every strict prefix either fails or decodes to fewer complete values.
    if (DecodeKey(key.substr(0, n), &decoded)) {
      EXPECT_LT(decoded.size(), values.size()) << n;
    }
  }
  EXPECT_FALSE(DecodeKey(std::string("\x7f", 1), &decoded));
  EXPECT_FALSE(DecodeKey(std::string("\x40"
                                     "ab\0\x02",
                                     5),
                         &decoded));
}

TEST(ValueTest, ARowDecodesToTheRowItWasEncodedFrom) {
  const Row row = EveryKind();
  std::string encoded;
  EncodeRow(row, &encoded);
  Row decoded;
  ASSERT_TRUE(DecodeRow(encoded, &decoded));
  ASSERT_EQ(decoded.size(), row.size());
  for (size_t i = 0; i < row.size(); ++i) EXPECT_TRUE(decoded[i] == row[i]) << i;
}

}  // namespace
}  // namespace sv
