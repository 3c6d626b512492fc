// Event contracts: valijson's verdict and the failing path/rule per JSON Schema keyword family,
// and the BACKWARD rule on compatible and incompatible schema pairs.

#include "contracts/contracts.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "contracts/registry.h"
#include "gtest/gtest.h"

namespace sv::contracts {
namespace {

std::shared_ptr<const Contract> Compile(const std::string& schema) {
  auto contract = Contract::FromText(schema, "test.json");
  EXPECT_TRUE(contract.ok()) << contract.status();
  return contract.ok() ? *contract : nullptr;
}

struct Case {
  const char* family;
  const char* schema;
  std::vector<const char*> valid;
  // Each invalid document with the pointer its reason must name.
  std::vector<std::pair<const char*, const char*>> invalid;
};

TEST(ContractTest, EachKeywordFamilyAcceptsTheValidAndNamesTheFailingPath) {
  const std::vector<Case> cases = {
      {"type",
       R"({"type":"object","properties":{"n":{"type":"integer"}}})",
       {R"({"n":3})", R"({})"},
       {{R"({"n":"3"})", "/n"}, {R"({"n":1.5})", "/n"}, {R"([1])", "/"}}},
      {"required",
       R"({"type":"object","required":["id","at"]})",
       {R"({"id":1,"at":"x"})"},
       {{R"({"id":1})", "/"}}},
      {"additionalProperties",
       R"({"properties":{"a":{}},"additionalProperties":false})",
       {R"({"a":1})"},
       {{R"({"a":1,"b":2})", "/"}}},
      {"enum and const",
       R"({"properties":{"s":{"enum":["new","done"]},"v":{"const":2}}})",
       {R"({"s":"new","v":2})"},
       {{R"({"s":"lost"})", "/s"}, {R"({"v":3})", "/v"}}},
      {"numeric bounds",
       R"({"properties":{"q":{"minimum":1,"exclusiveMaximum":100,"multipleOf":0.5}}})",
       {R"({"q":1})", R"({"q":99.5})"},
       {{R"({"q":0})", "/q"}, {R"({"q":100})", "/q"}, {R"({"q":1.2})", "/q"}}},
      {"strings",
       R"({"properties":{"c":{"minLength":3,"maxLength":3,"pattern":"^[A-Z]+$"}}})",
       {R"({"c":"EUR"})"},
       {{R"({"c":"EU"})", "/c"}, {R"({"c":"EURO"})", "/c"}, {R"({"c":"eur"})", "/c"}}},
      {"arrays",
       R"({"properties":{"items":{"type":"array","minItems":1,"maxItems":3,"uniqueItems":true,
          "items":{"type":"object","required":["qty"],"properties":{"qty":{"minimum":1}}}}}})",
       {R"({"items":[{"qty":1},{"qty":2}]})"},
       {{R"({"items":[]})", "/items"},
        {R"({"items":[{"qty":1},{"qty":0}]})", "/items/1/qty"},
        {R"({"items":[{"qty":1},{"qty":1}]})", "/items"}}},
      {"combinators",
       R"({"properties":{"x":{"anyOf":[{"type":"string"},{"type":"integer"}]},
           "y":{"oneOf":[{"minimum":0},{"maximum":10}]},
           "z":{"allOf":[{"minimum":0},{"maximum":10}]},
           "w":{"not":{"type":"null"}}}})",
       {R"({"x":"a","y":-5,"z":5,"w":1})"},
       {{R"({"x":true})", "/x"},
        {R"({"y":5})", "/y"},
        {R"({"z":11})", "/z"},
        {R"({"w":null})", "/w"}}},
      {"$ref",
       R"({"definitions":{"money":{"type":"object","required":["amount"]}},
          "properties":{"price":{"$ref":"#/definitions/money"}}})",
       {R"({"price":{"amount":1}})"},
       {{R"({"price":{}})", "/price"}}},
  };
  Checker checker;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.family);
    auto contract = Compile(c.schema);
    ASSERT_NE(contract, nullptr);
    for (const char* doc : c.valid) {
      EXPECT_EQ(checker.Violation(*contract, doc), std::nullopt) << doc;
    }
    for (const auto& [doc, path] : c.invalid) {
      std::optional<std::string> reason = checker.Violation(*contract, doc);
      ASSERT_TRUE(reason.has_value()) << doc;
      EXPECT_EQ(reason->rfind(std::string("at ") + path + ": ", 0), 0u) << doc << " -> " << *reason;
    }
  }
}

TEST(ContractTest, ABadSchemaOrDocumentIsAnErrorNotAVerdict) {
  EXPECT_FALSE(Contract::FromText("{", "broken.json").ok());
  EXPECT_FALSE(Contract::FromText("[1]", "list.json").ok());
  EXPECT_FALSE(Contract::FromText(R"({"type": 3})", "bad.json").ok());
  auto contract = Compile(R"({"type":"object"})");
  Checker checker;
  std::optional<std::string> reason = checker.Violation(*contract, "{nope");
  ASSERT_TRUE(reason.has_value());
  EXPECT_NE(reason->find("not JSON"), std::string::npos) << *reason;
}

TEST(ContractSetTest, FindsByTypeAndVersion) {
  ContractSet set;
  set.Add("Created", 1, Compile("{}"));
  set.Add("Created", 2, Compile("{}"));
  set.Add("Closed", 0, Compile("{}"));
  std::string error;
  EXPECT_NE(set.Find("Created", 2, &error), nullptr);
  EXPECT_EQ(set.Find("Created", 3, &error), nullptr);
  EXPECT_NE(error.find("no contract for Created version 3 (known: 1, 2)"), std::string::npos)
      << error;
  error.clear();
  EXPECT_EQ(set.Find("Created", std::nullopt, &error), nullptr);
  EXPECT_NE(error.find("names no version"), std::string::npos) << error;
  error.clear();
  EXPECT_NE(set.Find("Closed", 7, &error), nullptr);
  EXPECT_EQ(set.Find("Other", 1, &error), nullptr);
  EXPECT_TRUE(error.empty()) << "a type without contracts is not checked";
}

struct Pair {
  const char* what;
  const char* old_schema;
  const char* new_schema;
  const char* change;  // nullptr: compatible; else a piece of the first change named
};

TEST(BackwardCompatibilityTest, CompatibleAndIncompatiblePairs) {
  const char* base = R"({"type":"object","required":["id"],
    "properties":{"id":{"type":"string"},"qty":{"type":"integer","minimum":1,"maximum":100},
    "status":{"enum":["new","done"]},"tags":{"type":"array","items":{"type":"string"},
    "maxItems":5}},"additionalProperties":false})";
  const std::vector<Pair> pairs = {
      {"unchanged", base, base, nullptr},
      {"optional property added to a closed model", base,
       R"({"type":"object","required":["id"],"properties":{"id":{"type":"string"},
         "qty":{"type":"integer","minimum":1,"maximum":100},"status":{"enum":["new","done"]},
         "tags":{"type":"array","items":{"type":"string"},"maxItems":5},
         "note":{"type":"string"}},"additionalProperties":false})",
       nullptr},
      {"type widened, bounds relaxed, enum grown, requirement dropped", base,
       R"({"type":"object","properties":{"id":{"type":["string","integer"]},
         "qty":{"type":"number","minimum":0},"status":{"enum":["new","done","lost"]},
         "tags":{"type":"array","items":{"type":"string"}}},"additionalProperties":false})",
       nullptr},
      {"annotations only", R"({"type":"string"})",
       R"({"type":"string","title":"Name","description":"who"})", nullptr},
      {"anyOf alternative added", R"({"anyOf":[{"type":"string"}]})",
       R"({"anyOf":[{"type":"string"},{"type":"integer"}]})", nullptr},
      {"property removed from an open model", R"({"properties":{"a":{"type":"string"}}})",
       R"({"properties":{}})", nullptr},
      {"required property added", base,
       R"({"type":"object","required":["id","qty"],"properties":{"id":{"type":"string"},
         "qty":{"type":"integer","minimum":1,"maximum":100},"status":{"enum":["new","done"]},
         "tags":{"type":"array","items":{"type":"string"},"maxItems":5}},
         "additionalProperties":false})",
       "required property 'qty' added"},
      {"type narrowed", R"({"properties":{"q":{"type":"number"}}})",
       R"({"properties":{"q":{"type":"integer"}}})", "type narrowed from number to integer"},
      {"constrained property added to an open model", R"({"properties":{}})",
       R"({"properties":{"x":{"type":"string"}}})", "added with constraints to an open"},
      {"property removed from a closed model",
       R"({"properties":{"a":{},"b":{}},"additionalProperties":false})",
       R"({"properties":{"a":{}},"additionalProperties":false})", "removed from a closed"},
      {"content model closed", R"({"properties":{"a":{}}})",
       R"({"properties":{"a":{}},"additionalProperties":false})", "additionalProperties: false"},
      {"maximum lowered", R"({"maximum":100})", R"({"maximum":50})", "maximum lowered"},
      {"minLength added", R"({"type":"string"})", R"({"type":"string","minLength":1})",
       "minLength 1 added"},
      {"enum value removed", R"({"enum":["a","b"]})", R"({"enum":["a"]})",
       "enum value \"b\" removed"},
      {"pattern added", R"({"type":"string"})", R"({"type":"string","pattern":"^a"})", "pattern"},
      {"nested item narrowed", R"({"items":{"properties":{"q":{"minimum":0}}}})",
       R"({"items":{"properties":{"q":{"minimum":1}}}})", "minimum raised from 0 to 1"},
      {"anyOf alternative removed", R"({"anyOf":[{"type":"string"},{"type":"integer"}]})",
       R"({"anyOf":[{"type":"string"}]})", "alternative 1"},
      {"keyword not analysed", R"({"dependencies":{"a":["b"]}})", R"({"dependencies":{"a":["c"]}})",
       "not analysed"},
      {"via $ref",
       R"({"definitions":{"m":{"minimum":0}},"properties":{"p":{"$ref":"#/definitions/m"}}})",
       R"({"definitions":{"m":{"minimum":5}},"properties":{"p":{"$ref":"#/definitions/m"}}})",
       "minimum raised"},
  };
  for (const Pair& p : pairs) {
    SCOPED_TRACE(p.what);
    auto found = BackwardIncompatibilities(p.old_schema, p.new_schema);
    ASSERT_TRUE(found.ok()) << found.status();
    if (p.change == nullptr) {
      EXPECT_TRUE(found->empty()) << found->front().path << ": " << found->front().change;
      continue;
    }
    ASSERT_FALSE(found->empty());
    EXPECT_NE(found->front().change.find(p.change), std::string::npos) << found->front().change;
  }
}

TEST(BackwardCompatibilityTest, NamesThePathOfANestedChange) {
  auto found = BackwardIncompatibilities(
      R"({"properties":{"order":{"properties":{"lines":{"items":{"properties":{"sku":{"type":"string"}}}}}}}})",
      R"({"properties":{"order":{"properties":{"lines":{"items":{"properties":{"sku":{"type":"string","maxLength":8}}}}}}}})");
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].path, "/order/lines/*/sku");
}

TEST(BackwardCompatibilityTest, ARecursiveSchemaEnds) {
  const char* tree =
      R"({"definitions":{"node":{"properties":{"kids":{"items":{"$ref":"#/definitions/node"}}}}},
      "$ref":"#/definitions/node"})";
  auto found = BackwardIncompatibilities(tree, tree);
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->empty());
  EXPECT_FALSE(BackwardIncompatibilities("{", tree).ok());
}

TEST(ConfluentFrameTest, ReadsTheSchemaIdAndPayloadAndSaysWhyOtherwise) {
  const std::string framed = std::string("\0\x01\x02\x03\x04", 5) + R"({"a":1})";
  absl::StatusOr<Frame> frame = Unframe(framed);
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_EQ(frame->schema_id, 0x01020304);
  EXPECT_EQ(frame->payload, R"({"a":1})");
  const std::string high = std::string("\0\xff\xff\xff\xfe", 5);
  ASSERT_TRUE(Unframe(high).ok());
  EXPECT_EQ(Unframe(high)->schema_id, -2);  // as the serializer's signed int
  EXPECT_EQ(Unframe(high)->payload, "");
  EXPECT_EQ(Unframe(R"({"a":1})").status().message(),
            "not a Confluent-framed record: its first byte is 123, not the magic byte 0 (a plain "
            "JSON record starts with '{', 123)");
  EXPECT_EQ(Unframe(std::string("\0\0\0", 3)).status().message(),
            "not a Confluent-framed record: 3 bytes, fewer than the magic byte and 4-byte schema "
            "id of a frame");
}

// A port nothing listens on: bound, never listened to, so connections are refused.
TEST(SchemaRegistryTest, UnreachableIsUnavailableAndNotRemembered) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  SchemaRegistry registry({.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)),
                           .timeout_ms = 2'000,
                           .user_password = ""});
  auto first = registry.Schema(7);
  EXPECT_TRUE(absl::IsUnavailable(first.status())) << first.status();
  EXPECT_NE(first.status().message().find("schema registry unreachable"), std::string::npos);
  EXPECT_TRUE(absl::IsUnavailable(registry.Schema(7).status()));
  EXPECT_EQ(registry.fetches(), 2);  // an outage is asked again, never kept as the answer
  close(fd);
}

}  // namespace
}  // namespace sv::contracts
