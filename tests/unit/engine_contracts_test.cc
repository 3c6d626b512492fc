// Event contracts in the engine: events breaking their type's schema go to the dead-letter
// store with the failing path and rule, the rest apply; a bad contract fails the config load.

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "memory_engine_fixture.h"
#include "projection/projection.h"

namespace sv::engine {
namespace {

constexpr char kConfig[] = R"(
store: {kind: memory}
sources:
  s:
    kind: log
    key: id
    type: type
    event_types: [Placed, Noted]
    contracts:
      version: v
      schemas:
        - {type: Placed, version: 1, file: DIR/placed.v1.json}
        - {type: Placed, version: 2, file: DIR/placed.v2.json}
engine: {commit_delay_us: 0}
views:
  orders:
    source: s
    key: [id]
    columns: {id: text, qty: integer, note: text}
    on:
      Placed: {set: {id: e.id, qty: e.qty}}
      Noted: {set: {id: e.id, note: e.text}}
)";

class EngineContractsTest : public MemoryEngineTest {
 protected:
  void SetUp() override {
    MemoryEngineTest::SetUp();
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("sv_contracts_", ::testing::UnitTest::GetInstance()->random_seed(), "_",
                        reinterpret_cast<uintptr_t>(this));
    std::filesystem::create_directories(dir_);
    // Closed content models, so v2 may add an optional field and still read all of v1.
    Write("placed.v1.json", R"({"type":"object","required":["id","qty"],
        "properties":{"type":{},"v":{},"id":{"type":"string"},"qty":{"type":"integer",
        "minimum":1}},"additionalProperties":false})");
    Write("placed.v2.json", R"({"type":"object","required":["id","qty"],
        "properties":{"type":{},"v":{},"id":{"type":"string"},"qty":{"type":"integer",
        "minimum":1},"currency":{"type":"string","pattern":"^[A-Z]{3}$"}},
        "additionalProperties":false})");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::string Config() const { return absl::StrReplaceAll(kConfig, {{"DIR", dir_.string()}}); }

  std::filesystem::path dir_;
};

TEST_F(EngineContractsTest, ViolationsAreDeadLettersWithPathAndRuleTheRestApply) {
  auto engine = OpenEngineWith(Config());
  ASSERT_NE(engine, nullptr);
  // key -> the piece of the dead-letter reason expected, or "" when the event applies.
  const std::vector<std::pair<std::string, std::string>> events = {
      {R"({"type":"Placed","v":1,"id":"a","qty":2})", ""},
      {R"({"type":"Placed","v":2,"id":"b","qty":3,"currency":"EUR"})", ""},
      {R"({"type":"Placed","v":1,"id":"c","qty":0})", "at /qty: "},
      {R"({"type":"Placed","v":2,"id":"d","qty":1,"currency":"euro"})", "at /currency: "},
      {R"({"type":"Placed","v":1,"id":"e"})", "at /: "},
      {R"({"type":"Placed","v":1,"id":"i","qty":1,"currency":"EUR"})", "at /: "},
      {R"({"type":"Placed","v":7,"id":"f","qty":1})", "no contract for Placed version 7"},
      {R"({"type":"Placed","id":"g","qty":1})", "names no version"},
      {R"({"type":"Placed","v":"x","id":"h","qty":1})", "not an integer"},
      {R"({"type":"Noted","id":"a","text":"no contract, not checked"})", ""},
  };
  std::vector<std::string> lines;
  for (const auto& [line, reason] : events) lines.push_back(line);
  Ingest(*engine, lines);
  ASSERT_TRUE(RunUntilIdle(*engine).ok());

  std::map<std::string, std::string> reasons;
  auto dead = keeper_->ListDeadLetters(false);
  ASSERT_TRUE(dead.ok()) << dead.status();
  for (const store::DeadLetter& dl : *dead) reasons[dl.key] = dl.reason;
  std::map<std::string, int64_t> rows;
  store::TableSpec view = TableFor(engine->catalog().views[0], 1);
  view.name = "orders";
  ASSERT_TRUE(keeper_
                  ->ScanTable(view,
                              [&](const Row& row) {
                                if (!row[1].is_null()) rows[row[0].as_text()] = row[1].as_int();
                              })
                  .ok());
  for (const auto& [line, expected] : events) {
    const std::string key = line.substr(line.find(R"("id":")") + 6, 1);
    SCOPED_TRACE(line);
    if (expected.empty()) {
      EXPECT_EQ(reasons.count(key), 0u) << reasons[key];
      EXPECT_EQ(rows.count(key), 1u);
      continue;
    }
    ASSERT_EQ(reasons.count(key), 1u);
    EXPECT_NE(reasons[key].find(expected), std::string::npos) << reasons[key];
    EXPECT_EQ(rows.count(key), 0u);
  }
  EXPECT_EQ(rows, (std::map<std::string, int64_t>{{"a", 2}, {"b", 3}}));
}

TEST_F(EngineContractsTest, AnIncompatibleVersionOrABadSchemaFailsTheLoadAtItsEntry) {
  Write("placed.v2.json", R"({"type":"object","required":["id","qty","currency"]})");
  auto config = config::ParseConfig(Config(), "test.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  auto catalog = projection::Compile(*config);
  ASSERT_FALSE(catalog.ok());
  EXPECT_NE(catalog.status().message().find("test.yaml:13:"), std::string::npos)
      << catalog.status();
  EXPECT_NE(catalog.status().message().find("required property 'currency' added"),
            std::string::npos)
      << catalog.status();

  // The same pair loads when the config waives the rule.
  std::string waived =
      absl::StrReplaceAll(Config(), {{"version: v\n", "version: v\n      compatibility: none\n"}});
  config = config::ParseConfig(waived, "test.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(projection::Compile(*config).ok());

  Write("placed.v1.json", R"({"type": "object", "minimum": "one"})");
  config = config::ParseConfig(Config(), "test.yaml");
  ASSERT_TRUE(config.ok());
  catalog = projection::Compile(*config);
  ASSERT_FALSE(catalog.ok());
  EXPECT_NE(catalog.status().message().find("not a valid JSON Schema"), std::string::npos)
      << catalog.status();

  std::filesystem::remove(dir_ / "placed.v1.json");
  catalog = projection::Compile(*config::ParseConfig(Config(), "test.yaml"));
  ASSERT_FALSE(catalog.ok());
  EXPECT_NE(catalog.status().message().find("cannot be read"), std::string::npos)
      << catalog.status();
}

TEST_F(EngineContractsTest, ConfigShapeErrorsNameTheLine) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {absl::StrReplaceAll(Config(), {{"      version: v\n", ""}}), "say where an event's version"},
      {absl::StrReplaceAll(Config(), {{"version: 2, file", "version: 1, file"}}),
       "a second schema for 'Placed' version 1"},
      {absl::StrReplaceAll(Config(),
                           {{"{type: Placed, version: 1, file", "{type: Lost, version: 1, file"}}),
       "does not declare in event_types"},
      {absl::StrReplaceAll(Config(),
                           {{"version: v\n", "version: v\n      compatibility: forward\n"}}),
       "expected one of: backward, none"},
  };
  for (const auto& [text, expected] : bad) {
    auto config = config::ParseConfig(text, "test.yaml");
    absl::Status status = config.status();
    if (config.ok()) status = projection::Compile(*config).status();
    ASSERT_FALSE(status.ok()) << expected;
    EXPECT_NE(status.message().find(expected), std::string::npos) << status;
    EXPECT_NE(status.message().find("test.yaml:"), std::string::npos) << status;
  }
}

}  // namespace
}  // namespace sv::engine
