#pragma once
// One store test suite, every backend: fixtures derive from BackendTest and are instantiated
// with SV_INSTANTIATE_STORE_BACKENDS(Fixture), which runs each TEST_P on SQLite (a file in a
// temp dir) and on PostgreSQL (a fresh pair of schemas in the database SV_TEST_PG_DSN names,
// dropped afterwards). SV_INSTANTIATE_STORE_BACKENDS_AND_MEMORY adds the memory store (a
// database of its own name, kept for the test by a store the fixture holds open) for the
// suites whose contract it keeps: everything but running SQL.
//
// Without SV_TEST_PG_DSN the PostgreSQL cases skip, unless SV_TEST_REQUIRE_PG=1 (set by
// scripts/test.sh), where they fail: CI must not pass by not testing PostgreSQL.

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "store/open.h"
#include "store/postgres/pg_store.h"
#include "store/store.h"

namespace sv::store {

class BackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    options_.kind = GetParam();
    if (memory()) {
      static std::atomic<int> databases{0};
      options_.path = absl::StrCat("store_test_", databases.fetch_add(1));
      // A memory database lives while a store has it open, as a file would between opens.
      absl::StatusOr<std::unique_ptr<Store>> keeper = OpenStore(options_, StoreRole::kWriter);
      ASSERT_TRUE(keeper.ok()) << keeper.status();
      keeper_ = std::move(*keeper);
      return;
    }
    if (postgres()) {
      const char* dsn = std::getenv("SV_TEST_PG_DSN");
      if (dsn == nullptr || *dsn == '\0') {
        const char* require = std::getenv("SV_TEST_REQUIRE_PG");
        if (require != nullptr && std::string(require) == "1") {
          FAIL() << "SV_TEST_REQUIRE_PG=1 but SV_TEST_PG_DSN is not set";
        }
        GTEST_SKIP() << "SV_TEST_PG_DSN is not set (scripts/pg.sh start sets it)";
      }
      static std::atomic<int> counter{0};
      const std::string base = absl::StrCat("t", getpid(), "_", counter.fetch_add(1));
      options_.dsn = dsn;
      options_.schema = base + "_sv";
      options_.view_schema = base + "_views";
      ASSERT_TRUE(DropSchemas().ok());
      return;
    }
    std::string tmpl = ::testing::TempDir() + "/store_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    options_.path = dir_ + "/store.db";
  }

  void TearDown() override {
    keeper_.reset();
    if (postgres()) {
      if (!options_.dsn.empty()) {
        absl::Status s = DropSchemas();
        EXPECT_TRUE(s.ok()) << s;
      }
    } else if (!dir_.empty()) {
      std::filesystem::remove_all(dir_);
    }
  }

  bool postgres() const { return GetParam() == "postgres"; }
  bool sqlite() const { return GetParam() == "sqlite"; }
  bool memory() const { return GetParam() == "memory"; }

  // Opens (and, unless told otherwise, initializes) a store in `role`; nullptr on failure
  // (with a test failure recorded).
  std::unique_ptr<Store> OpenAs(StoreRole role, bool init = true) {
    absl::StatusOr<std::unique_ptr<Store>> store = OpenStore(options_, role);
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return nullptr;
    if (init) {
      absl::Status s = (*store)->Init();
      EXPECT_TRUE(s.ok()) << s;
      if (!s.ok()) return nullptr;
    }
    return std::move(*store);
  }

  absl::Status DropSchemas() {
    return DropPostgresSchemas(options_.dsn, {options_.schema, options_.view_schema});
  }

  // The `store:` section of an engine config for this backend.
  std::string StoreYaml() const {
    if (postgres()) {
      return absl::StrCat("store:\n  kind: postgres\n  dsn: \"", options_.dsn,
                          "\"\n  schema: ", options_.schema,
                          "\n  view_schema: ", options_.view_schema, "\n");
    }
    // A memory store is named by EngineOptions::store_path = options_.path.
    if (memory()) return "store:\n  kind: memory\n";
    return absl::StrCat("store:\n  kind: sqlite\n  path: ", options_.path, "\n");
  }

  PostgresOptions PgOptions() const {
    PostgresOptions po;
    po.dsn = options_.dsn;
    po.schema = options_.schema;
    po.view_schema = options_.view_schema;
    return po;
  }

  StoreOptions options_;
  std::string dir_;
  std::unique_ptr<Store> keeper_;
};

inline std::string BackendName(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

#define SV_INSTANTIATE_STORE_BACKENDS(fixture)                                         \
  INSTANTIATE_TEST_SUITE_P(Backends, fixture, ::testing::Values("sqlite", "postgres"), \
                           ::sv::store::BackendName)
#define SV_INSTANTIATE_STORE_BACKENDS_AND_MEMORY(fixture)                                        \
  INSTANTIATE_TEST_SUITE_P(Backends, fixture, ::testing::Values("sqlite", "postgres", "memory"), \
                           ::sv::store::BackendName)

}  // namespace sv::store
