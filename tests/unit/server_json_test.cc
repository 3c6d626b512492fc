// The server's JSON writer and HTTP helpers: no non-finite number and no invalid UTF-8 ever
// reaches a response, secrets compare without early exits, URLs decode as sent.

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "server/http.h"
#include "server/json.h"

namespace sv::server {
namespace {

std::string Written(const Value& v) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("total_net");
  WriteValue(w, v);
  w.EndObject();
  return buf.GetString();
}

bool ParsesAsJson(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(text.c_str(), text.size());
  return !doc.HasParseError();
}

TEST(JsonWriterTest, NonFiniteNumbersBecomeNull) {
  // RapidJSON's own writer fails on these and leaves `{"total_net":` behind.
  for (double d :
       {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
        std::numeric_limits<double>::quiet_NaN()}) {
    const std::string json = Written(Value::Real(d));
    EXPECT_EQ(json, "{\"total_net\":null}");
    EXPECT_TRUE(ParsesAsJson(json)) << json;
  }
  EXPECT_EQ(Written(Value::Real(2.5)), "{\"total_net\":2.5}");
}

TEST(JsonWriterTest, JsonValuesAreNestedNotQuoted) {
  const std::string doc = R"({"exceptions":[{"at":"x","type":"late"}],"n":2})";
  EXPECT_EQ(Written(Value::Json(doc)), absl::StrCat(R"({"total_net":)", doc, "}"));
  EXPECT_EQ(Written(Value::Json("[]")), R"({"total_net":[]})");
  EXPECT_TRUE(ParsesAsJson(Written(Value::Json("null"))));
}

TEST(JsonWriterTest, NonFiniteThroughAcceptToo) {
  // Documents re-serialized with Accept (POST /events arrays) go through the same Double().
  rapidjson::Document doc;
  doc.SetArray();
  doc.PushBack(rapidjson::Value(std::numeric_limits<double>::infinity()), doc.GetAllocator());
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  doc.Accept(w);
  EXPECT_STREQ(buf.GetString(), "[null]");
}

TEST(JsonWriterTest, InvalidUtf8IsReplaced) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("z\xC3\xA9ro \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));          // truncated
  EXPECT_EQ(ToValidUtf8("a\xFF"
                        "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(ToValidUtf8("a\xE2\x82"), "a\xEF\xBF\xBD");
  const std::string json = Written(Value::Text("order \xFF\xFE 1"));
  EXPECT_TRUE(ParsesAsJson(json)) << json;
  EXPECT_TRUE(ParsesAsJson(ErrorBody("bad byte \x80 here")));
}

TEST(HttpHelpersTest, SecretEquals) {
  EXPECT_TRUE(http::SecretEquals("s3cret-token", "s3cret-token"));
  EXPECT_FALSE(http::SecretEquals("s3cret-toke", "s3cret-token"));    // a prefix
  EXPECT_FALSE(http::SecretEquals("s3cret-tokens", "s3cret-token"));  // longer
  EXPECT_FALSE(http::SecretEquals("s3cret-tokeN", "s3cret-token"));
  EXPECT_FALSE(http::SecretEquals("", "s3cret-token"));
  EXPECT_FALSE(http::SecretEquals("", ""));  // no configured secret matches nothing
  // The cycled comparison must not accept a repetition of the secret.
  EXPECT_FALSE(http::SecretEquals("abab", "ab"));
}

TEST(HttpHelpersTest, SplitTargetKeepsOrderAndDecodes) {
  http::Request req;
  req.target = "/views/a%2Fb?z=1&a=x+y&empty&pct=%25%zz";
  http::SplitTarget(req);
  EXPECT_EQ(req.path, "/views/a/b");
  ASSERT_EQ(req.params.size(), 4u);
  EXPECT_EQ(req.params[0].first, "z");
  EXPECT_EQ(req.get_param_value("a"), "x y");
  EXPECT_TRUE(req.has_param("empty"));
  EXPECT_EQ(req.get_param_value("pct"), "%%zz");
  EXPECT_EQ(http::EncodeQueryParam("a b/é"), "a%20b%2F%C3%A9");
}

}  // namespace
}  // namespace sv::server
