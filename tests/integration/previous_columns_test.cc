// A changed definition whose columns differ, deployed with `previous:` (engine/version_build.cc,
// engine/view_versions.h) on each store: version 2 drops `total` and adds `biggest`; it is built
// beside version 1 while the loop keeps version 1 current, each version's table holds its own
// definition's columns, and promotion validates keys (counts and sampled keys both ways, read
// with each version's columns) and refuses a version missing a key; a changed key likewise,
// each row looked up by the columns named like the other version's key.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine/view_versions.h"
#include "gmock/gmock.h"
#include "previous_fixture.h"

namespace sv::store {
namespace {

using ::testing::HasSubstr;

class PreviousColumnsTest : public PreviousDefinitionTest {
 protected:
  // The oracle of events [0, to): id -> "amount label last" (last: total or biggest).
  static std::map<std::string, std::string> Oracle(int to, bool v2) {
    std::map<std::string, int64_t> last;
    std::map<std::string, std::string> out;
    for (int i = 0; i < to; ++i) {
      const std::string id = absl::StrCat("k", i % 10);
      const int64_t amount = (i * 37) % 100;
      last[id] = v2 ? std::max(last[id], amount) : last[id] + amount;
      out[id] = absl::StrCat(amount, " ", v2 ? "v2" : "v1", " ", last[id]);
    }
    return out;
  }
  // The rows of version `version`'s table read with `columns` (id first).
  std::map<std::string, std::string> Rows(int64_t version, const std::string& last) {
    TableSpec table{
        absl::StrCat("items__v", version),
        {{"id", Type::kText}, {"amount", Type::kInt}, {"label", Type::kText}, {last, Type::kInt}},
        {0},
        {}};
    std::map<std::string, std::string> out;
    EXPECT_TRUE(engine_->store()
                    ->ScanTable(table,
                                [&](const Row& row) {
                                  out[row[0].ToString()] =
                                      absl::StrCat(row[1].ToString(), " ", row[2].ToString(), " ",
                                                   row[3].ToString());
                                })
                    .ok());
    return out;
  }
  std::string Roles() {
    auto versions = engine::ListVersions(*engine_->store(), engine_->catalog(), "items");
    EXPECT_TRUE(versions.ok()) << versions.status();
    std::string out;
    for (const auto& v : versions.ok() ? *versions : std::vector<engine::VersionInfo>{}) {
      absl::StrAppend(&out, out.empty() ? "" : " ", v.version.version, ":", v.role,
                      v.maintained ? "(maintained)" : "");
    }
    return out;
  }
  absl::StatusOr<ViewVersion> Switch(engine::SwitchKind kind) {
    said_.clear();
    engine::SwitchRequest request;
    request.view = "items";
    request.kind = kind;
    return engine_->SwitchViewVersion(
        request, [this](std::string line) { said_.push_back(std::move(line)); });
  }

  std::vector<std::string> said_;
};

SV_INSTANTIATE_STORE_BACKENDS(PreviousColumnsTest);

TEST_P(PreviousColumnsTest, OtherColumnsAreBuiltBesideAndPromotedByKeys) {
  Open(kVersion1);
  Ingest(0, 40);
  Open(std::string(kVersion2) + "    previous:\n" + Indent(kVersion1));
  EXPECT_TRUE(Said("version 2 (the config's definition) is built beside it"));
  ASSERT_NO_FATAL_FAILURE(RunUntilVersion2IsBuilt());
  EXPECT_EQ(Roles(), "1:active 2:candidate(maintained)");

  // Every batch writes both versions, each with its own definition's columns.
  Ingest(40, 90);
  EXPECT_EQ(Rows(1, "total"), Oracle(90, false));
  EXPECT_EQ(Rows(2, "biggest"), Oracle(90, true));

  auto promoted = Switch(engine::SwitchKind::kPromote);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(promoted->version, 2);
  int compared = 0;
  for (const std::string& line : said_) {
    EXPECT_THAT(line, ::testing::Not(HasSubstr("not compared")));
    if (line.rfind("compared 10 rows", 0) == 0) ++compared;
  }
  EXPECT_EQ(compared, 2) << absl::StrJoin(said_, "\n");
  EXPECT_EQ(Roles(), "1:standby(maintained) 2:active");
  Ingest(90, 120);
  EXPECT_EQ(Rows(1, "total"), Oracle(120, false));
  EXPECT_EQ(Rows(2, "biggest"), Oracle(120, true));

  // Rolled back, then version 2 loses a key: its promotion is refused, naming the key.
  ASSERT_TRUE(Switch(engine::SwitchKind::kRollback).ok());
  TableSpec v2 = engine::TableFor(engine_->catalog().views[0], 2);
  auto batch = engine_->store()->BeginBatch();
  ASSERT_TRUE(batch->Delete(v2, {Value::Text("k4")}).ok());
  ASSERT_TRUE(batch->Commit().ok());
  auto refused = Switch(engine::SwitchKind::kPromote);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("fails validation"));
  EXPECT_EQ(Roles(), "1:active 2:candidate(maintained)");
}

// Version 2 keyed by (label, id): built beside, each version read with its own key. Validation
// looks version 2's rows up in version 1 by `id` (version 1's key, a key column of version 2's:
// a miss there is a missing row) and version 1's in version 2 by (label, id) — `label` is not a
// key column of version 1 and version 2 computes it otherwise ('v2'): misses are said, not
// refused.
TEST_P(PreviousColumnsTest, AChangedKeyIsBuiltBesideAndValidatedByItsKeyColumns) {
  const std::string v2 = absl::StrReplaceAll(kVersion2, {{"key: [id]", "key: [label, id]"}});
  Open(kVersion1);
  Ingest(0, 40);
  Open(v2 + "    previous:\n" + Indent(kVersion1));
  ASSERT_TRUE(Said("version 2 (the config's definition) is built beside it"));
  ASSERT_NO_FATAL_FAILURE(RunUntilVersion2IsBuilt());
  Ingest(40, 90);
  EXPECT_EQ(Rows(1, "total"), Oracle(90, false));
  EXPECT_EQ(Rows(2, "biggest"), Oracle(90, true));
  // Version 2's own key: one row per (label, id).
  TableSpec v2_table = engine::TableFor(engine_->catalog().views[0], 2);
  ASSERT_EQ(v2_table.key.size(), 2u);
  auto by_new_key = engine_->store()->GetRow(v2_table, {Value::Text("v2"), Value::Text("k3")});
  ASSERT_TRUE(by_new_key.ok()) << by_new_key.status();
  ASSERT_TRUE(by_new_key->has_value());

  auto promoted = Switch(engine::SwitchKind::kPromote);
  ASSERT_TRUE(promoted.ok()) << promoted.status() << "\n" << absl::StrJoin(said_, "\n");
  EXPECT_EQ(promoted->version, 2);
  int strict = 0, lenient = 0;
  for (const std::string& line : said_) {
    if (line.rfind("compared 10 rows of items__v2 with items__v1: ", 0) == 0) ++strict;
    if (line.rfind("compared 10 rows of items__v1 with items__v2: ", 0) == 0 &&
        line.find("10 unmatched") != std::string::npos) {
      ++lenient;
    }
  }
  EXPECT_EQ(strict, 1) << absl::StrJoin(said_, "\n");
  EXPECT_EQ(lenient, 1) << absl::StrJoin(said_, "\n");
  EXPECT_EQ(Roles(), "1:standby(maintained) 2:active");
  Ingest(90, 120);
  EXPECT_EQ(Rows(1, "total"), Oracle(120, false));
  EXPECT_EQ(Rows(2, "biggest"), Oracle(120, true));

  // Rolled back; version 2 then loses k4 and gains kx (the count stays): kx has no row in
  // version 1, its promotion is refused naming it.
  ASSERT_TRUE(Switch(engine::SwitchKind::kRollback).ok());
  auto batch = engine_->store()->BeginBatch();
  ASSERT_TRUE(batch->Delete(v2_table, {Value::Text("v2"), Value::Text("k4")}).ok());
  ASSERT_TRUE(
      batch->Upsert(v2_table, {Value::Text("kx"), Value::Int(1), Value::Text("v2"), Value::Int(1)})
          .ok());
  ASSERT_TRUE(batch->Commit().ok());
  auto refused = Switch(engine::SwitchKind::kPromote);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("fails validation"));
  EXPECT_THAT(refused.status().message(), HasSubstr("(kx) is in items__v2 but not in items__v1"));
  EXPECT_EQ(Roles(), "1:active 2:candidate(maintained)");
}

// A lookup reads the serving version with its own definition's columns (server/lookups.h): a
// changed key runs beside it when the lookup fits the previous: definition too, and not when
// it names a column only the config's definition has.
TEST_P(PreviousColumnsTest, ALookupRunsBesideOnlyWhenItFitsThePreviousDefinition) {
  const std::string v2 = absl::StrReplaceAll(kVersion2, {{"key: [id]", "key: [label, id]"}});
  auto runnable = [&](const std::string& fields, std::string* why) {
    auto config = config::ParseConfig(
        StoreYaml() + kSources + v2 + "    previous:\n" + Indent(kVersion1) +
            "lookups:\n  items_by_label:\n    view: items\n    label: label\n    fields: " +
            fields + "\n",
        "views.yaml");
    EXPECT_TRUE(config.ok()) << config.status();
    auto catalog = projection::Compile(*config);
    EXPECT_TRUE(catalog.ok()) << catalog.status();
    if (!catalog.ok()) return false;
    EXPECT_EQ((*catalog)->previous_lookups.size(), 1u);
    return engine::RunnablePrevious(**catalog, 0, why) != nullptr;
  };
  std::string why;
  EXPECT_TRUE(runnable("[id, label, amount]", &why)) << why;
  EXPECT_FALSE(runnable("[id, label, biggest]", &why));
  EXPECT_THAT(
      why, HasSubstr("lookup items_by_label reads it and does not fit its previous: definition"));
}

}  // namespace
}  // namespace sv::store
