// A changed base view that derived views read, deployed with `previous:` (engine/version_build.cc,
// engine/derived_serving.cc), on each store: version 2 (label 'v2', `total` dropped, `biggest`
// added) is built beside version 1 while version 1 serves, and the derived views (an aggregate,
// an aggregate over it, a filtered list) are computed from the version that serves throughout:
// from version 1's rows while it serves and while version 2 is built, from version 2's once it
// is promoted (recomputed in the promotion's transaction), from version 1's again after a
// rollback, across a restart; each checked against an oracle computed from the events.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/engine.h"
#include "engine/view_versions.h"
#include "gmock/gmock.h"
#include "previous_fixture.h"

namespace sv::store {
namespace {

using ::testing::HasSubstr;

constexpr char kDerived[] = R"yaml(derived_views:
  by_label:
    sql: |
      CREATE VIEW by_label AS
      SELECT label, count(*) AS n, sum(amount) AS amount_sum FROM items GROUP BY label
  sizes:
    sql: |
      CREATE VIEW sizes AS
      SELECT n, count(*) AS labels FROM by_label GROUP BY n
  big_items:
    sql: |
      CREATE VIEW big_items AS
      SELECT id, label, amount FROM items WHERE amount > 40
)yaml";

std::string Changed() {
  return std::string(kVersion2) + "    previous:\n" + Indent(kVersion1) + kDerived;
}

class PreviousDerivedTest : public PreviousDefinitionTest {
 protected:
  // The derived views' rows computed from events [0, to) with the label `label`, one line per
  // row: "view: columns…", sorted.
  static std::vector<std::string> Oracle(int to, const std::string& label) {
    std::map<std::string, int64_t> amount;  // by id: the last event's
    for (int i = 0; i < to; ++i) amount[absl::StrCat("k", i % 10)] = (i * 37) % 100;
    std::vector<std::string> out;
    int64_t sum = 0;
    for (const auto& [id, a] : amount) {
      sum += a;
      if (a > 40) out.push_back(absl::StrCat("big_items: ", id, " ", label, " ", a));
    }
    if (!amount.empty()) {
      out.push_back(absl::StrCat("by_label: ", label, " ", amount.size(), " ", sum));
      out.push_back(absl::StrCat("sizes: ", amount.size(), " 1"));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // What the store holds in the derived views' tables.
  std::vector<std::string> DerivedRows() {
    auto versions = engine_->store()->ListViewVersions();
    EXPECT_TRUE(versions.ok()) << versions.status();
    std::vector<std::string> out;
    for (const char* name : {"by_label", "sizes", "big_items"}) {
      const int v = engine_->catalog().FindView(name);
      int64_t active = 0;
      for (const ViewVersion& vv : versions.ok() ? *versions : std::vector<ViewVersion>{}) {
        if (vv.view == name && vv.active) active = vv.version;
      }
      TableSpec table = engine::TableFor(engine_->catalog().views[v], active);
      EXPECT_TRUE(engine_->store()
                      ->ScanTable(table,
                                  [&](const Row& row) {
                                    std::vector<std::string> values;
                                    for (const Value& value : row) {
                                      values.push_back(value.ToString());
                                    }
                                    out.push_back(
                                        absl::StrCat(name, ": ", absl::StrJoin(values, " ")));
                                  })
                      .ok());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // A verify with repair compares every view and every maintained version (reported under
  // `compared`'s names: the serving one under the view's name, the other as items@vN) and finds
  // nothing to repair.
  void VerifyFindsNoDrift(const std::vector<std::string>& compared) {
    engine::VerifyRequest request;
    request.repair = true;
    auto report = engine_->Verify(request);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_FALSE(report->Drifted());
    std::vector<std::string> seen;
    for (const engine::ViewDrift& drift : report->views) {
      EXPECT_EQ(drift.repaired, 0) << drift.view;
      EXPECT_EQ(drift.skipped, "") << drift.view;
      EXPECT_GT(drift.live_rows, 0) << drift.view;
      seen.push_back(drift.view);
    }
    std::sort(seen.begin(), seen.end());
    std::vector<std::string> expected = compared;
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(seen, expected);
  }
};

SV_INSTANTIATE_STORE_BACKENDS(PreviousDerivedTest);

TEST_P(PreviousDerivedTest, DerivedViewsFollowTheVersionThatServes) {
  Open(std::string(kVersion1) + kDerived);
  Ingest(0, 40);
  ASSERT_EQ(DerivedRows(), Oracle(40, "v1"));

  Open(Changed());
  ASSERT_TRUE(Said("version 2 (the config's definition) is built beside it")) << AllSaid();
  EXPECT_EQ(DerivedRows(), Oracle(40, "v1"));
  // Version 2's rows are folded and swapped in by the build: they feed no derived view.
  ASSERT_NO_FATAL_FAILURE(RunUntilVersion2IsBuilt());
  EXPECT_EQ(DerivedRows(), Oracle(40, "v1"));
  Ingest(40, 90);
  EXPECT_EQ(DerivedRows(), Oracle(90, "v1"));
  // A verify folds both definitions: version 1 (serving) and the derived views following it
  // agree with the fold of version 1's, version 2 with the config's.
  ASSERT_NO_FATAL_FAILURE(
      VerifyFindsNoDrift({"items", "items@v2", "by_label", "sizes", "big_items"}));

  // Computed again from version 2 in the promotion's transaction; fed by it from then on.
  auto promoted = Switch(engine::SwitchKind::kPromote);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(promoted->version, 2);
  EXPECT_TRUE(Said("derived view by_label computed again from version 2")) << AllSaid();
  EXPECT_EQ(DerivedRows(), Oracle(90, "v2"));
  Ingest(90, 120);
  EXPECT_EQ(DerivedRows(), Oracle(120, "v2"));
  ASSERT_NO_FATAL_FAILURE(
      VerifyFindsNoDrift({"items", "items@v1", "by_label", "sizes", "big_items"}));

  // Rolled back: version 1 was kept current, the derived views follow it again.
  ASSERT_TRUE(Switch(engine::SwitchKind::kRollback).ok());
  EXPECT_EQ(DerivedRows(), Oracle(120, "v1"));
  Ingest(120, 150);
  EXPECT_EQ(DerivedRows(), Oracle(150, "v1"));

  // A restart while version 1 serves: the derived state is loaded from version 1 again.
  Open(Changed());
  EXPECT_EQ(DerivedRows(), Oracle(150, "v1"));
  Ingest(150, 170);
  EXPECT_EQ(DerivedRows(), Oracle(170, "v1"));

  // Without the engine's loop the derived views could not follow: refused, saying why.
  engine::SwitchRequest request;
  request.view = "items";
  request.kind = engine::SwitchKind::kPromote;
  auto offline = engine::SwitchVersion(*engine_->store(), engine_->catalog(), request,
                                       [](const std::string&) {});
  EXPECT_TRUE(absl::IsFailedPrecondition(offline.status())) << offline.status();
  EXPECT_THAT(offline.status().message(), HasSubstr("derived view by_label reads it"));

  // Promoted again, then a restart while version 2 serves.
  ASSERT_TRUE(Switch(engine::SwitchKind::kPromote).ok());
  EXPECT_EQ(DerivedRows(), Oracle(170, "v2"));
  Open(Changed());
  Ingest(170, 200);
  EXPECT_EQ(DerivedRows(), Oracle(200, "v2"));
}

// Two changed views, `items` and `tags` (whose version 2 adds a column before `tag`), each
// built beside its version 1, and a derived view joining them. A full rebuild of `items` while
// both versions 1 serve computes the join from items' new table and tags' version 1, each read
// with its own definition's columns, and the join follows items' new version from then on;
// promoting tags makes it follow tags' version 2, a rollback version 1 again, and a full rebuild
// of tags while its version 1 serves the rebuilt version (its columns, not version 1's).
TEST_P(PreviousDerivedTest, ARebuildReadsEachInputWithTheColumnsOfTheVersionItReads) {
  constexpr char kTags1[] = R"yaml(  tags:
    version: 1
    source: s
    key: [id]
    columns:
      id: text
      tag: text
    on:
      Set:
        set:
          id: e.id
          tag: "'t1'"
)yaml";
  constexpr char kTags2[] = R"yaml(  tags:
    version: 2
    source: s
    key: [id]
    columns:
      id: text
      weight: integer
      tag: text
    on:
      Set:
        set:
          id: e.id
          weight: e.amount
          tag: "'t2'"
)yaml";
  constexpr char kJoin[] = R"yaml(derived_views:
  tagged:
    sql: |
      CREATE VIEW tagged AS
      SELECT i.id, i.label, t.tag FROM items i JOIN tags t ON i.id = t.id
)yaml";
  auto tagged = [&] {
    std::vector<std::string> out;
    auto versions = engine_->store()->ListViewVersions();
    EXPECT_TRUE(versions.ok()) << versions.status();
    int64_t active = 0;
    for (const ViewVersion& vv : versions.ok() ? *versions : std::vector<ViewVersion>{}) {
      if (vv.view == "tagged" && vv.active) active = vv.version;
    }
    const int v = engine_->catalog().FindView("tagged");
    EXPECT_TRUE(engine_->store()
                    ->ScanTable(engine::TableFor(engine_->catalog().views[v], active),
                                [&](const Row& row) {
                                  out.push_back(absl::StrCat(row[0].ToString(), " ",
                                                             row[1].ToString(), " ",
                                                             row[2].ToString()));
                                })
                    .ok());
    std::sort(out.begin(), out.end());
    return out;
  };
  auto oracle = [](const std::string& label, const std::string& tag) {
    std::vector<std::string> out;
    for (int k = 0; k < 10; ++k) out.push_back(absl::StrCat("k", k, " ", label, " ", tag));
    return out;
  };
  Open(std::string(kVersion1) + kTags1 + kJoin);
  Ingest(0, 40);
  EXPECT_EQ(tagged(), oracle("v1", "t1"));
  const std::string tags2 =
      std::string(kTags2) + "    previous:\n" + Indent(std::string(kTags1).substr(8));
  Open(std::string(kVersion2) + "    previous:\n" + Indent(kVersion1) + tags2 + kJoin);
  std::atomic<bool> stop{false};
  absl::Status ran;
  std::thread loop([&] { ran = engine_->Run(stop, false); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (!(Said("view items: version 2 is built") && Said("view tags: version 2 is built")) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  loop.join();
  ASSERT_TRUE(ran.ok()) << ran;
  ASSERT_TRUE(Said("view tags: version 2 is built")) << AllSaid();
  ASSERT_TRUE(Said("view items: version 2 is built")) << AllSaid();
  Ingest(40, 60);
  EXPECT_EQ(tagged(), oracle("v1", "t1"));
  // A verify computes the join as it is served: from both versions 1, each read with its own
  // columns (over the config's, tags' version 1 would have no `tag` where the join reads it).
  engine::VerifyRequest check;
  check.repair = true;
  auto report = engine_->Verify(check);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->Drifted());
  EXPECT_EQ(tagged(), oracle("v1", "t1"));

  auto rebuilt = engine_->Rebuild({"items"});
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  EXPECT_EQ(tagged(), oracle("v2", "t1"));
  Ingest(60, 70);
  EXPECT_EQ(tagged(), oracle("v2", "t1"));

  engine::SwitchRequest request;
  request.view = "tags";
  request.kind = engine::SwitchKind::kPromote;
  auto promoted = engine_->SwitchViewVersion(request, [](const std::string&) {});
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(tagged(), oracle("v2", "t2"));
  Ingest(70, 80);
  EXPECT_EQ(tagged(), oracle("v2", "t2"));

  request.kind = engine::SwitchKind::kRollback;
  ASSERT_TRUE(engine_->SwitchViewVersion(request, [](const std::string&) {}).ok());
  EXPECT_EQ(tagged(), oracle("v2", "t1"));
  Ingest(80, 90);
  EXPECT_EQ(tagged(), oracle("v2", "t1"));

  rebuilt = engine_->Rebuild({"tags"});
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  EXPECT_EQ(tagged(), oracle("v2", "t2"));
  Ingest(90, 100);
  EXPECT_EQ(tagged(), oracle("v2", "t2"));
}

// A derived view whose columns would differ over the previous: definition (a sum of an integer
// column that becomes real): its table has one set of columns, so the changed view is rebuilt
// before the loop starts, as without previous:, saying why.
TEST_P(PreviousDerivedTest, ADerivedViewWhoseColumnsWouldChangeRebuildsAtStart) {
  Open(std::string(kVersion1) + kDerived);
  Ingest(0, 40);
  const std::string real_amount =
      absl::StrReplaceAll(kVersion2, {{"amount: integer", "amount: real"}});
  Open(real_amount + "    previous:\n" + Indent(kVersion1) + kDerived);
  EXPECT_TRUE(Said("derived view by_label would have other columns over its previous: one"))
      << AllSaid();
  EXPECT_TRUE(Said("the view is rebuilt before the loop starts")) << AllSaid();
}

}  // namespace
}  // namespace sv::store
