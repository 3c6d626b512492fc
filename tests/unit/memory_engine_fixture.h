#pragma once
// A fixture for engine tests on the memory store: a database of its own per test, held open
// between engines (a restart) by a keeper connection that also reads what they committed.

#include <atomic>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/config.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "store/open.h"
#include "store/store.h"

namespace sv::engine {

class MemoryEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> databases{0};
    options_.kind = "memory";
    options_.path = absl::StrCat("memory_engine_test_", databases.fetch_add(1));
    auto keeper = store::OpenStore(options_, store::StoreRole::kWriter);
    ASSERT_TRUE(keeper.ok()) << keeper.status();
    keeper_ = std::move(*keeper);
    ASSERT_TRUE(keeper_->Init().ok());
  }

  // An engine over this test's database, configured by `config_text` (its store is replaced).
  std::unique_ptr<Engine> OpenEngineWith(const std::string& config_text) {
    auto config = config::ParseConfig(config_text, "test.yaml");
    EXPECT_TRUE(config.ok()) << config.status();
    if (!config.ok()) return nullptr;
    EngineOptions options;
    options.store_path = options_.path;
    auto engine = Engine::Open(*config, options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? std::move(*engine) : nullptr;
  }

  void Ingest(Engine& engine, const std::vector<std::string>& lines) {
    std::istringstream in(absl::StrCat(absl::StrJoin(lines, "\n"), "\n"));
    auto result = IngestLines(engine.catalog().sources[0], keeper_.get(), in);
    ASSERT_TRUE(result.ok()) << result.status();
  }

  static absl::Status RunUntilIdle(Engine& engine) {
    bool idle = false;
    for (int guard = 0; guard < 10'000 && !idle;) {
      absl::Status s = engine.RunOnce(&idle);
      if (!s.ok()) return s;
      guard += idle ? 0 : 1;
    }
    return engine.Sync();
  }

  store::StoreOptions options_;
  std::unique_ptr<store::Store> keeper_;
};

}  // namespace sv::engine
