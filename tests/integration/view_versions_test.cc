// Blue/green view versions (engine/view_versions.h) on each store: a swap keeps the version it
// replaces as the standby; rollback and promote switch between them; and the refusals — the
// active version cannot be dropped, a lagging version cannot be switched to, a version failing
// validation cannot be promoted, a version of another definition cannot be maintained.

#include "engine/view_versions.h"

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "config/config.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "store_backends.h"

namespace sv::store {
namespace {

using ::testing::HasSubstr;

constexpr char kViews[] = R"(
engine:
  standby_versions: 1
sources:
  s:
    key: id
    event_id: eventId
    event_types: [Set]
views:
  items:
    version: 1
    source: s
    key: [id]
    columns:
      id: text
      amount: integer
      label: text
    on:
      Set:
        set:
          id: e.id
          amount: e.amount
          label: "'v1'"
)";

class ViewVersionsTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto config = config::ParseConfig(StoreYaml() + kViews, "views.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    auto engine = engine::Engine::Open(*config, {});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }
  void TearDown() override {
    engine_.reset();
    BackendTest::TearDown();
  }
  void Ingest(int from, int to) {
    std::string lines;
    for (int i = from; i < to; ++i) {
      absl::StrAppend(&lines, R"({"type":"Set","id":"k)", i % 10, R"(","amount":)", i,
                      R"(,"eventId":"e)", i, "\"}\n");
    }
    std::istringstream in(lines);
    ASSERT_TRUE(engine::IngestLines(engine_->catalog().sources[0], engine_->store(), in).ok());
    bool idle = false;
    while (!idle) ASSERT_TRUE(engine_->RunOnce(&idle).ok());
    ASSERT_TRUE(engine_->Sync().ok());
  }
  std::vector<engine::VersionInfo> Versions() {
    auto versions = engine::ListVersions(*engine_->store(), engine_->catalog(), "items");
    EXPECT_TRUE(versions.ok()) << versions.status();
    return versions.ok() ? *versions : std::vector<engine::VersionInfo>{};
  }
  // "1:standby 2:active", say.
  std::string Roles() {
    std::string out;
    for (const auto& v : Versions()) {
      absl::StrAppend(&out, out.empty() ? "" : " ", v.version.version, ":", v.role,
                      v.lags ? "(lags)" : "");
    }
    return out;
  }
  absl::StatusOr<ViewVersion> Switch(engine::SwitchKind kind) {
    engine::SwitchRequest request;
    request.view = "items";
    request.kind = kind;
    return engine_->SwitchViewVersion(
        request, [this](std::string line) { said_.push_back(std::move(line)); });
  }

  std::unique_ptr<engine::Engine> engine_;
  std::vector<std::string> said_;
};

SV_INSTANTIATE_STORE_BACKENDS(ViewVersionsTest);

TEST_P(ViewVersionsTest, ARebuildKeepsTheReplacedVersionForARollbackAndPromoteSwitchesBack) {
  Ingest(0, 30);
  ASSERT_TRUE(engine_->Rebuild({"items"}).ok());
  EXPECT_EQ(Roles(), "1:standby 2:active");
  for (const auto& v : Versions()) {
    EXPECT_EQ(v.version.config_version, 1);
    if (sqlite() || postgres()) {
      EXPECT_EQ(v.rows, 10);
    }
  }
  auto back = Switch(engine::SwitchKind::kRollback);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->version, 1);
  EXPECT_EQ(Roles(), "1:active 2:candidate");
  // The loop maintains the version now active, and the version the rollback left beside it.
  Ingest(30, 40);
  for (int64_t version : {1, 2}) {
    auto row = engine_->store()->GetRow(engine::TableFor(engine_->catalog().views[0], version),
                                        {Value::Text("k3")});
    ASSERT_TRUE(row.ok() && row->has_value()) << version;
    EXPECT_EQ((**row)[1], Value::Int(33)) << version;
  }
  EXPECT_EQ(Roles(), "1:active 2:candidate");
  auto promoted = Switch(engine::SwitchKind::kPromote);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(promoted->version, 2);
  // A rebuild's standby is not maintained: once events arrive it lags, and is refused.
  ASSERT_TRUE(engine_->Rebuild({"items"}).ok());
  // (One standby is kept: version 1, maintained until then, is pruned.)
  EXPECT_EQ(Roles(), "2:standby 3:active");
  Ingest(40, 45);
  EXPECT_EQ(Roles(), "2:standby(lags) 3:active");
  auto lagging = Switch(engine::SwitchKind::kRollback);
  EXPECT_TRUE(absl::IsFailedPrecondition(lagging.status())) << lagging.status();
  EXPECT_THAT(lagging.status().message(), HasSubstr("lags"));
}

// The rows of `version` of items, by key.
std::map<std::string, Row> RowsOf(engine::Engine& engine, int64_t version) {
  std::map<std::string, Row> rows;
  EXPECT_TRUE(engine.store()
                  ->ScanTable(engine::TableFor(engine.catalog().views[0], version),
                              [&](const Row& row) { rows[row[0].ToString()] = row; })
                  .ok());
  return rows;
}

TEST_P(ViewVersionsTest, AnUnpromotedCandidateIsKeptCurrentByEveryBatchAndPromotedUnderLoad) {
  Ingest(0, 20);
  ASSERT_TRUE(engine_->Rebuild({"items"}, false, /*promote=*/false).ok());
  EXPECT_EQ(Roles(), "1:active 2:candidate");
  // Events after the build reach the candidate too (new keys among them: the view had 10).
  Ingest(20, 60);
  EXPECT_EQ(Roles(), "1:active 2:candidate");
  for (const auto& v : Versions()) EXPECT_EQ(v.maintained, v.version.version == 2);
  const std::map<std::string, Row> active = RowsOf(*engine_, 1);
  EXPECT_EQ(active.size(), 10u);
  EXPECT_EQ(RowsOf(*engine_, 2), active);
  EXPECT_EQ(active.at("k7")[1], Value::Int(57));
  auto promoted = Switch(engine::SwitchKind::kPromote);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(Roles(), "1:standby 2:active");
  // The version left is maintained in its turn: a rollback stays possible as events arrive.
  Ingest(60, 70);
  EXPECT_EQ(RowsOf(*engine_, 1), RowsOf(*engine_, 2));
  auto back = Switch(engine::SwitchKind::kRollback);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->version, 1);
}

TEST_P(ViewVersionsTest, AMaintainedCandidateStaysMaintainedAcrossARestart) {
  if (!sqlite() && !postgres()) GTEST_SKIP() << "the memory store does not outlive its engine";
  Ingest(0, 20);
  ASSERT_TRUE(engine_->Rebuild({"items"}, false, /*promote=*/false).ok());
  engine_.reset();
  auto config = config::ParseConfig(StoreYaml() + kViews, "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  auto reopened = engine::Engine::Open(*config, {});
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  engine_ = std::move(*reopened);
  Ingest(20, 35);
  EXPECT_EQ(Roles(), "1:active 2:candidate");
  EXPECT_EQ(RowsOf(*engine_, 2), RowsOf(*engine_, 1));
  // An engine running another definition cannot maintain it: it is recorded where it stands,
  // and lags once events arrive.
  engine_.reset();
  const std::string v2 =
      absl::StrReplaceAll(kViews, {{"version: 1", "version: 2"}, {"'v1'", "'v2'"}});
  auto other = config::ParseConfig(StoreYaml() + v2, "views.yaml");
  ASSERT_TRUE(other.ok()) << other.status();
  engine::EngineOptions options;
  options.keep_changed_views = true;
  options.start_sources = false;
  auto keeping = engine::Engine::Open(*other, options);
  ASSERT_TRUE(keeping.ok()) << keeping.status();
  keeping->reset();
  reopened = engine::Engine::Open(*config, {});
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  engine_ = std::move(*reopened);
  EXPECT_EQ(Roles(), "1:active 2:candidate");
  Ingest(35, 40);
  EXPECT_EQ(Roles(), "1:active 2:candidate(lags)");
  auto lagging = Switch(engine::SwitchKind::kPromote);
  EXPECT_TRUE(absl::IsFailedPrecondition(lagging.status())) << lagging.status();
  EXPECT_THAT(lagging.status().message(), HasSubstr("lags"));
}

TEST_P(ViewVersionsTest, TheActiveVersionCannotBeDroppedAndStandbysAreBounded) {
  Ingest(0, 20);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(engine_->Rebuild({"items"}).ok());
  // One standby kept (engine.standby_versions: 1): versions 1 and 2 were dropped.
  EXPECT_EQ(Roles(), "3:standby 4:active");
  absl::Status active = engine::DropVersion(*engine_->store(), "items", 4);
  EXPECT_TRUE(absl::IsFailedPrecondition(active)) << active;
  EXPECT_TRUE(engine::DropVersion(*engine_->store(), "items", 3).ok());
  EXPECT_EQ(Roles(), "4:active");
  auto none = Switch(engine::SwitchKind::kRollback);
  EXPECT_TRUE(absl::IsFailedPrecondition(none.status())) << none.status();
}

TEST_P(ViewVersionsTest, AnUnpromotedBuildIsValidatedBeforeItIsPromoted) {
  Ingest(0, 20);
  ASSERT_TRUE(engine_->Rebuild({"items"}, false, /*promote=*/false).ok());
  EXPECT_EQ(Roles(), "1:active 2:candidate");
  // A row lost from the candidate: counts and the sampled keys tell.
  const TableSpec candidate = engine::TableFor(engine_->catalog().views[0], 2);
  auto batch = engine_->store()->BeginBatch();
  ASSERT_TRUE(batch->Delete(candidate, {Value::Text("k4")}).ok());
  ASSERT_TRUE(batch->Commit().ok());
  auto invalid = Switch(engine::SwitchKind::kPromote);
  EXPECT_TRUE(absl::IsFailedPrecondition(invalid.status())) << invalid.status();
  EXPECT_THAT(invalid.status().message(), HasSubstr("fails validation"));
  EXPECT_EQ(Roles(), "1:active 2:candidate");
  // Rebuilt unpromoted again: the new candidate replaces the broken one, and passes.
  ASSERT_TRUE(engine_->Rebuild({"items"}, false, /*promote=*/false).ok());
  EXPECT_EQ(Roles(), "1:active 3:candidate");
  auto promoted = Switch(engine::SwitchKind::kPromote);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(promoted->version, 3);
  EXPECT_EQ(Roles(), "1:standby 3:active");
}

TEST_P(ViewVersionsTest, AVersionOfAnotherDefinitionIsNotSwitchedTo) {
  Ingest(0, 20);
  ASSERT_TRUE(engine_->Rebuild({"items"}).ok());
  // The config now defines version 2 of the view: the standby (version 1's definition) could
  // not be maintained by an engine running it.
  const std::string v2 =
      absl::StrReplaceAll(kViews, {{"version: 1", "version: 2"}, {"'v1'", "'v2'"}});
  auto config = config::ParseConfig(StoreYaml() + v2, "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  auto catalog = projection::Compile(*config);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  engine::SwitchRequest request;
  request.view = "items";
  request.kind = engine::SwitchKind::kRollback;
  auto refused = engine::SwitchVersion(*engine_->store(), **catalog, request, [](std::string) {});
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("another definition"));
}

}  // namespace
}  // namespace sv::store
