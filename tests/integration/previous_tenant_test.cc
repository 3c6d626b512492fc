// A tenant rebuild of a view whose changed definition is deployed with `previous:`
// (engine/tenant_rebuild.cc), on each store: while version 1 (the previous: definition) serves
// and version 2 (the config's) is kept current beside it, one organization's rows are rebuilt in
// both versions, each with its own definition, and the derived view follows the version that
// serves; the other organization's rows are left as they are. Checked against an oracle computed
// from the events, after rows of both organizations were corrupted behind the engine's back.

#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "previous_fixture.h"

namespace sv::store {
namespace {

using ::testing::HasSubstr;

constexpr char kTenantVersion1[] = R"yaml(    version: 1
    source: s
    key: [id]
    tenant: org
    columns:
      id: text
      org: text
      amount: integer
      label: text
    on:
      Set:
        set:
          id: e.id
          org: e.org
          amount: e.amount
          label: "'v1'"
)yaml";

// Version 2: `biggest` added, the label changed.
constexpr char kTenantVersion2[] = R"yaml(    version: 2
    source: s
    key: [id]
    tenant: org
    columns:
      id: text
      org: text
      amount: integer
      label: text
      biggest: integer
    on:
      Set:
        set:
          id: e.id
          org: e.org
          amount: e.amount
          label: "'v2'"
          biggest: "greatest(coalesce(biggest, 0), e.amount)"
)yaml";

constexpr char kByOrg[] = R"yaml(derived_views:
  by_org:
    tenant: org
    sql: |
      CREATE VIEW by_org AS
      SELECT org, label, count(*) AS n, sum(amount) AS amount_sum FROM items GROUP BY org, label
)yaml";

std::string Org(int i) { return i % 10 < 5 ? "o1" : "o2"; }
int64_t Amount(int i) { return (i * 37) % 100; }

class PreviousTenantTest : public PreviousDefinitionTest {
 protected:
  void IngestWithOrgs(int from, int to) {
    std::string lines;
    for (int i = from; i < to; ++i) {
      absl::StrAppend(&lines, R"({"type":"Set","id":"k)", i % 10, R"(","org":")", Org(i),
                      R"(","amount":)", Amount(i), R"(,"eventId":"e)", i, "\"}\n");
    }
    std::istringstream in(lines);
    ASSERT_TRUE(engine::IngestLines(engine_->catalog().sources[0], engine_->store(), in).ok());
    bool idle = false;
    while (!idle) ASSERT_TRUE(engine_->RunOnce(&idle).ok());
    ASSERT_TRUE(engine_->Sync().ok());
  }
  // The rows of version `version` after events [0, to), one "id org amount label[ biggest]" per
  // row, sorted; `k5_amount` stands for k5's amount when set (a corruption left in place).
  static std::vector<std::string> Oracle(int to, int version, int64_t k5_amount = -1) {
    std::map<std::string, std::pair<int64_t, int64_t>> last_and_biggest;
    for (int i = 0; i < to; ++i) {
      auto& [last, biggest] = last_and_biggest[absl::StrCat("k", i % 10)];
      last = Amount(i);
      biggest = std::max(biggest, Amount(i));
    }
    std::vector<std::string> out;
    for (const auto& [id, amounts] : last_and_biggest) {
      const int64_t amount = id == "k5" && k5_amount >= 0 ? k5_amount : amounts.first;
      const std::string org = id < "k5" ? "o1" : "o2";
      out.push_back(version == 1 ? absl::StrCat(id, " ", org, " ", amount, " v1")
                                 : absl::StrCat(id, " ", org, " ", amount, " v2 ", amounts.second));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // by_org's rows for the label `label`, from the rows Oracle gives.
  static std::vector<std::string> ByOrg(const std::vector<std::string>& rows,
                                        const std::string& label) {
    std::map<std::string, std::pair<int64_t, int64_t>> by_org;  // org → count, sum
    for (const std::string& row : rows) {
      std::istringstream in(row);
      std::string id, org;
      int64_t amount = 0;
      in >> id >> org >> amount;
      by_org[org].first += 1;
      by_org[org].second += amount;
    }
    std::vector<std::string> out;
    out.reserve(by_org.size());
    for (const auto& [org, n_sum] : by_org) {
      out.push_back(absl::StrCat(org, " ", label, " ", n_sum.first, " ", n_sum.second));
    }
    return out;
  }
  // items' table of `version` (each read with its own definition), or by_org's active one.
  TableSpec VersionTable(int64_t version, const std::string& view = "items") {
    const projection::Catalog& catalog = engine_->catalog();
    const int v = catalog.FindView(view);
    const projection::ViewPlan& plan =
        version != 1 || view != "items"
            ? catalog.views[v]
            : catalog.previous_views[catalog.views[v].previous - catalog.views.size()];
    auto versions = engine_->store()->ListViewVersions();
    EXPECT_TRUE(versions.ok()) << versions.status();
    TableSpec table = engine::TableFor(plan, version);
    for (const ViewVersion& vv : versions.ok() ? *versions : std::vector<ViewVersion>{}) {
      if (vv.view != view) continue;
      if (vv.version == version || (version == 0 && vv.active)) table.name = vv.table;
    }
    return table;
  }
  std::vector<std::string> Rows(const TableSpec& table) {
    std::vector<std::string> out;
    EXPECT_TRUE(engine_->store()
                    ->ScanTable(table,
                                [&](const Row& row) {
                                  std::vector<std::string> values;
                                  for (const Value& value : row) values.push_back(value.ToString());
                                  out.push_back(absl::StrJoin(values, " "));
                                })
                    .ok());
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<std::string> Rows(int64_t version) { return Rows(VersionTable(version)); }
  std::vector<std::string> ByOrgRows() { return Rows(VersionTable(0, "by_org")); }
  // Behind the engine's back, in both versions: o1's k0 changed, k1 deleted, k9x added (o1);
  // o2's k5 changed.
  void Corrupt() {
    for (int64_t version : {1, 2}) {
      const TableSpec table = VersionTable(version);
      std::vector<Row> rows;
      ASSERT_TRUE(engine_->store()
                      ->ScanTable(table,
                                  [&](const Row& row) {
                                    if (row[0].ToString() == "k0" || row[0].ToString() == "k5") {
                                      rows.push_back(row);
                                    }
                                  })
                      .ok());
      ASSERT_EQ(rows.size(), 2u);
      Row extra = rows.front();
      extra[0] = Value::Text("k9x");
      extra[1] = Value::Text("o1");
      for (Row& row : rows) row[2] = Value::Int(row[0].ToString() == "k0" ? 999 : 777);
      rows.push_back(extra);
      auto batch = engine_->store()->BeginBatch();
      std::vector<const Row*> upserts;
      upserts.reserve(rows.size());
      for (const Row& row : rows) upserts.push_back(&row);
      ASSERT_TRUE(batch->UpsertRows(table, upserts).ok());
      ASSERT_TRUE(batch->Delete(table, {Value::Text("k1")}).ok());
      ASSERT_TRUE(batch->Commit().ok());
    }
  }
};

SV_INSTANTIATE_STORE_BACKENDS(PreviousTenantTest);

std::string Changed() {
  return std::string(kTenantVersion2) + "    previous:\n" + Indent(kTenantVersion1) + kByOrg;
}

TEST_P(PreviousTenantTest, OneOrganizationIsRebuiltInBothVersionsWhileVersion1Serves) {
  Open(std::string(kTenantVersion1) + kByOrg);
  IngestWithOrgs(0, 40);
  Open(Changed());
  ASSERT_NO_FATAL_FAILURE(RunUntilVersion2IsBuilt());
  IngestWithOrgs(40, 60);
  ASSERT_EQ(Rows(1), Oracle(60, 1));
  ASSERT_EQ(Rows(2), Oracle(60, 2));

  ASSERT_NO_FATAL_FAILURE(Corrupt());
  Open(Changed());  // the derived view loaded from the corrupted rows of version 1
  ASSERT_TRUE(Said("version 2 (the config's) is kept current beside it")) << AllSaid();
  engine::TenantRebuildRequest tenant;
  tenant.views = {"items"};
  tenant.tenant = Value::Text("o1");
  auto rebuilt = engine_->RebuildTenant(tenant);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  // o1's rows as the source says in each version, each with its own definition; o2's k5 stays.
  EXPECT_EQ(Rows(1), Oracle(60, 1, 777));
  EXPECT_EQ(Rows(2), Oracle(60, 2, 777));
  // The derived view follows version 1, which serves: o1's row from its rebuilt rows; o2's row
  // as stored before the corruption (nothing of o2 changed since).
  EXPECT_EQ(ByOrgRows(), ByOrg(Oracle(60, 1), "v1"));

  // Both stay current; the promotion computes the derived view from version 2's rows.
  IngestWithOrgs(60, 70);  // k0…k9 each once more: k5's corruption is overwritten
  EXPECT_EQ(Rows(1), Oracle(70, 1));
  auto promoted = Switch(engine::SwitchKind::kPromote);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(Rows(2), Oracle(70, 2));
  EXPECT_EQ(ByOrgRows(), ByOrg(Oracle(70, 2), "v2"));

  // While version 2 serves, version 1 is a standby of the previous: definition: a tenant
  // rebuild writes it too, so a rollback finds the organization's rows as the source says.
  ASSERT_NO_FATAL_FAILURE(Corrupt());
  Open(Changed());
  rebuilt = engine_->RebuildTenant(tenant);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  EXPECT_EQ(Rows(1), Oracle(70, 1, 777));
  EXPECT_EQ(Rows(2), Oracle(70, 2, 777));
  EXPECT_EQ(ByOrgRows(), ByOrg(Oracle(70, 2), "v2"));
  // The rollback computes it from version 1's rows, o2's corrupted one included.
  ASSERT_TRUE(Switch(engine::SwitchKind::kRollback).ok());
  EXPECT_EQ(ByOrgRows(), ByOrg(Oracle(70, 1, 777), "v1"));
}

// A verify while version 1 serves compares both versions with the fold of each one's
// definition (the serving one under the view's name, the other as items@v2), names exactly the
// corrupted keys in each, and its repair makes both equal to their oracle; the derived view
// follows version 1's repaired rows.
TEST_P(PreviousTenantTest, AVerifyComparesAndRepairsBothVersions) {
  Open(std::string(kTenantVersion1) + kByOrg);
  IngestWithOrgs(0, 40);
  Open(Changed());
  ASSERT_NO_FATAL_FAILURE(RunUntilVersion2IsBuilt());
  IngestWithOrgs(40, 60);
  ASSERT_NO_FATAL_FAILURE(Corrupt());
  Open(Changed());
  engine::VerifyRequest request;
  request.repair = true;
  auto report = engine_->Verify(request);
  ASSERT_TRUE(report.ok()) << report.status();
  std::map<std::string, std::string> found;  // view → "missing | extra | differing"
  for (const engine::ViewDrift& drift : report->views) {
    EXPECT_EQ(drift.skipped, "") << drift.view;
    found[drift.view] = absl::StrCat(absl::StrJoin(drift.missing_keys, ","), " | ",
                                     absl::StrJoin(drift.extra_keys, ","), " | ",
                                     absl::StrJoin(drift.differing_keys, ","));
  }
  EXPECT_EQ(found["items"], "k1 | k9x | k0,k5");
  EXPECT_EQ(found["items@v2"], "k1 | k9x | k0,k5");
  EXPECT_EQ(found.count("by_org"), 1u);
  EXPECT_EQ(Rows(1), Oracle(60, 1));
  EXPECT_EQ(Rows(2), Oracle(60, 2));
  EXPECT_EQ(ByOrgRows(), ByOrg(Oracle(60, 1), "v1"));
  IngestWithOrgs(60, 70);
  EXPECT_EQ(ByOrgRows(), ByOrg(Oracle(70, 1), "v1"));
  auto again = engine_->Verify(engine::VerifyRequest{});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->Drifted());
}

// A previous: definition without the tenant column cannot have one organization's rows picked
// out: refused, saying why, before anything is folded.
TEST_P(PreviousTenantTest, APreviousDefinitionWithoutTheTenantColumnIsRefused) {
  std::string untenanted = kTenantVersion1;
  untenanted.erase(untenanted.find("    tenant: org\n"), 16);
  Open(untenanted);
  IngestWithOrgs(0, 20);
  Open(std::string(kTenantVersion2) + "    previous:\n" + Indent(untenanted));
  ASSERT_NO_FATAL_FAILURE(RunUntilVersion2IsBuilt());
  engine::TenantRebuildRequest tenant;
  tenant.views = {"items"};
  tenant.tenant = Value::Text("o1");
  auto refused = engine_->RebuildTenant(tenant);
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status())) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("declares no tenant column"));
}

}  // namespace
}  // namespace sv::store
