#pragma once
// What the tests of a changed definition deployed with `previous:` share: the view `items` in two
// versions (version 2 drops `total`, adds `biggest` and labels its rows 'v2'), and an engine
// opened on each store, fed events, and run until version 2 is built beside version 1.

#include <atomic>
#include <chrono>
#include <memory>
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
#include "store_backends.h"

namespace sv::store {

inline constexpr char kSources[] = R"yaml(
sources:
  s:
    key: id
    event_id: eventId
    event_types: [Set]
views:
  items:
)yaml";

// Version 1, as the body of the `items:` entry.
inline constexpr char kVersion1[] = R"yaml(    version: 1
    source: s
    key: [id]
    columns:
      id: text
      amount: integer
      label: text
      total: integer
    on:
      Set:
        set:
          id: e.id
          amount: e.amount
          label: "'v1'"
          total: "coalesce(total, 0) + e.amount"
)yaml";

// Version 2: `total` dropped, `biggest` added, the label changed.
inline constexpr char kVersion2[] = R"yaml(    version: 2
    source: s
    key: [id]
    columns:
      id: text
      amount: integer
      label: text
      biggest: integer
    on:
      Set:
        set:
          id: e.id
          amount: e.amount
          label: "'v2'"
          biggest: "greatest(coalesce(biggest, 0), e.amount)"
)yaml";

inline std::string Indent(const std::string& text) {
  return absl::StrReplaceAll(text, {{"\n    ", "\n      "}}).insert(0, "  ");
}

class PreviousDefinitionTest : public BackendTest {
 protected:
  void TearDown() override {
    engine_.reset();
    BackendTest::TearDown();
  }
  void Open(const std::string& view_body) {
    engine_.reset();
    auto config = config::ParseConfig(StoreYaml() + kSources + view_body, "views.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    engine::EngineOptions options;
    options.progress = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back(line);
    };
    auto engine = engine::Engine::Open(*config, options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }
  std::string AllSaid() {
    std::lock_guard<std::mutex> lock(mu_);
    return absl::StrJoin(lines_, "\n");
  }
  bool Said(const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& line : lines_) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }
  // Runs the loop, which builds version 2 in the background, until version 2 is built.
  void RunUntilVersion2IsBuilt() {
    std::atomic<bool> stop{false};
    absl::Status ran;
    std::thread loop([&] { ran = engine_->Run(stop, false); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    while (!Said("version 2 is built and kept current") &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop = true;
    loop.join();
    ASSERT_TRUE(ran.ok()) << ran;
    ASSERT_TRUE(Said("version 2 is built and kept current"));
  }
  // Promotes or rolls back `items` on the running engine.
  absl::StatusOr<ViewVersion> Switch(engine::SwitchKind kind) {
    engine::SwitchRequest request;
    request.view = "items";
    request.kind = kind;
    return engine_->SwitchViewVersion(request, [](const std::string&) {});
  }
  void Ingest(int from, int to) {
    std::string lines;
    for (int i = from; i < to; ++i) {
      absl::StrAppend(&lines, R"({"type":"Set","id":"k)", i % 10, R"(","amount":)", (i * 37) % 100,
                      R"(,"eventId":"e)", i, "\"}\n");
    }
    std::istringstream in(lines);
    ASSERT_TRUE(engine::IngestLines(engine_->catalog().sources[0], engine_->store(), in).ok());
    bool idle = false;
    while (!idle) ASSERT_TRUE(engine_->RunOnce(&idle).ok());
    ASSERT_TRUE(engine_->Sync().ok());
  }

  std::unique_ptr<engine::Engine> engine_;
  std::mutex mu_;
  std::vector<std::string> lines_;
};

}  // namespace sv::store
