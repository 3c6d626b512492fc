// Engines of one consumer group sharing a PostgreSQL store (store.shared_by_partition) start
// at the same moment, as replicas of a deployment do: on a fresh store both must come up, with
// the view tables created once (one used to fail with "duplicate key (23505)" while the other
// created the same table, or drop the table the other had just created).

#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "engine/engine.h"
#include "store_backends.h"

namespace sv::store {
namespace {

class SharedStoreStartTest : public BackendTest {};
INSTANTIATE_TEST_SUITE_P(Backends, SharedStoreStartTest, ::testing::Values("postgres"),
                         BackendName);

TEST_P(SharedStoreStartTest, EnginesStartedTogetherOnAFreshStoreAllComeUp) {
  // The sources join their group on the first poll, so no broker is needed to start.
  const std::string views = R"(
sources:
  s:
    kind: kafka
    brokers: 127.0.0.1:1
    topics: [t]
    group_id: g
    key: id
    event_types: [Put]
views:
  a_view:
    source: s
    key: [id]
    columns: {id: text, n: integer}
    on:
      Put: {set: {id: e.id, n: e.n}}
  b_view:
    source: s
    key: [id]
    columns: {id: text, total: integer}
    on:
      Put: {set: {id: e.id, total: e.n}}
)";
  constexpr int kTries = 6;
  constexpr int kEngines = 3;
  for (int attempt = 0; attempt < kTries; ++attempt) {
    ASSERT_TRUE(DropSchemas().ok());  // a fresh store each time
    const std::string yaml = StoreYaml() + "  shared_by_partition: true\n" + views;
    auto config = config::ParseConfig(yaml, "shared.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    std::latch start(kEngines);
    std::vector<absl::Status> results(kEngines);
    std::vector<std::unique_ptr<engine::Engine>> engines(kEngines);
    std::vector<std::thread> threads;
    for (int i = 0; i < kEngines; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        auto engine = engine::Engine::Open(*config, {});
        results[i] = engine.status();
        if (engine.ok()) engines[i] = *std::move(engine);
      });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < kEngines; ++i) {
      EXPECT_TRUE(results[i].ok()) << "try " << attempt << ", engine " << i << ": " << results[i];
    }
    // One version of each view, active, created once.
    auto store = OpenAs(StoreRole::kReader);
    ASSERT_NE(store, nullptr);
    auto versions = store->ListViewVersions();
    ASSERT_TRUE(versions.ok()) << versions.status();
    ASSERT_EQ(versions->size(), 2u) << "try " << attempt;
    for (const ViewVersion& v : *versions) {
      EXPECT_TRUE(v.active) << v.table;
      EXPECT_EQ(v.version, 1) << v.table;
    }
    engines.clear();
  }
}

}  // namespace
}  // namespace sv::store
