#include "server/org_activity.h"

#include <gtest/gtest.h>

#include <map>

#include "config/config.h"
#include "server/row_fanout.h"

namespace sv::server {
namespace {

constexpr char kYaml[] = R"yaml(sources:
  s:
    key: id
    event_types: [Put]
views:
  by_org:
    source: s
    key: [org, id]
    tenant: org
    columns: {org: text, id: text}
    on:
      Put: {set: {org: e.org, id: e.id}}
  tenant_not_in_key:
    source: s
    key: [id]
    tenant: org
    columns: {org: text, id: text}
    on:
      Put: {set: {org: e.org, id: e.id}}
  untenanted:
    source: s
    key: [id]
    columns: {id: text}
    on:
      Put: {set: {id: e.id}}
)yaml";

std::shared_ptr<const Row> RowOf(const char* org, const char* id) {
  return std::make_shared<const Row>(Row{Value::Text(org), Value::Text(id)});
}

class OrgActivityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = config::ParseConfig(kYaml, "t.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    auto catalog = projection::Compile(*config);
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    catalog_ = *std::move(catalog);
    activity_ = std::make_unique<OrgActivity>(*catalog_, [this] { return now_; });
  }
  std::map<std::pair<int, std::string>, double> Ages() const {
    std::map<std::pair<int, std::string>, double> out;
    activity_->ForEach([&](int v, const std::string& org, double s) { out[{v, org}] = s; });
    return out;
  }
  void Advance(int seconds) { now_ += std::chrono::seconds(seconds); }

  std::unique_ptr<projection::Catalog> catalog_;
  std::unique_ptr<OrgActivity> activity_;
  std::chrono::system_clock::time_point now_{std::chrono::seconds(1'000'000)};
};

TEST_F(OrgActivityTest, WatchesTenantViewsOnly) {
  EXPECT_EQ(activity_->Watched(3), (std::vector<bool>{true, true, false}));
}

TEST_F(OrgActivityTest, EachOrganizationAgesFromItsOwnLastChange) {
  activity_->OnCommitted(0, {RowOf("o1", "a"), RowOf("o2", "b")}, {});
  Advance(30);
  activity_->OnCommitted(0, {RowOf("o2", "c")}, {});
  Advance(10);
  auto ages = Ages();
  EXPECT_EQ(ages.size(), 2u);
  EXPECT_DOUBLE_EQ((ages[{0, "o1"}]), 40);
  EXPECT_DOUBLE_EQ((ages[{0, "o2"}]), 10);
  // A delete names its organization when the tenant is part of the key.
  activity_->OnCommitted(0, {}, {Row{Value::Text("o1"), Value::Text("a")}});
  EXPECT_DOUBLE_EQ((Ages()[{0, "o1"}]), 0);
  // ...and cannot when it is not: the key alone does not say whose row it was.
  activity_->OnCommitted(1, {}, {Row{Value::Text("a")}});
  EXPECT_EQ(Ages().count({1, "a"}), 0u);
}

TEST_F(OrgActivityTest, AReplacedViewIsFreshForEveryOrganization) {
  activity_->OnCommitted(1, {RowOf("o1", "a"), RowOf("o2", "b")}, {});
  Advance(100);
  activity_->OnReplaced(1);
  Advance(5);
  auto ages = Ages();
  EXPECT_DOUBLE_EQ((ages[{1, "o1"}]), 5);
  EXPECT_DOUBLE_EQ((ages[{1, "o2"}]), 5);
}

// Forwards only what each follower watches.
class Recorder final : public engine::RowObserver {
 public:
  explicit Recorder(std::vector<bool> watched) : watched_(std::move(watched)) {}
  std::vector<bool> Watched(size_t) const override { return watched_; }
  void OnCommitted(int view, const std::vector<std::shared_ptr<const Row>>&,
                   const std::vector<Row>&) override {
    seen.push_back(view);
  }
  void OnReplaced(int view) override { seen.push_back(-1 - view); }
  std::vector<int> seen;

 private:
  std::vector<bool> watched_;
};

TEST(RowFanoutTest, EachFollowerGetsItsOwnViews) {
  Recorder a({true, false, false});
  Recorder b({false, true, false});
  RowFanout fanout({&a, &b});
  EXPECT_EQ(fanout.Watched(3), (std::vector<bool>{true, true, false}));
  fanout.OnCommitted(0, {}, {});
  fanout.OnCommitted(1, {}, {});
  fanout.OnReplaced(1);
  EXPECT_EQ(a.seen, (std::vector<int>{0}));
  EXPECT_EQ(b.seen, (std::vector<int>{1, -2}));
}

}  // namespace
}  // namespace sv::server
