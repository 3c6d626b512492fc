// `streamview views list|promote|rollback|drop`: blue/green view versions over the store, with
// the config's compiled views (engine/view_versions.h). They do not open an engine: opening one
// would rebuild a view whose definition the config changed, which is what a switch avoids.

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "common/log.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine/view_versions.h"
#include "store/open.h"

namespace sv::cli {
namespace {

int Fail(const absl::Status& s) {
  LogJson("error", std::string(s.message()));
  return absl::IsInvalidArgument(s) ? 2 : 1;
}

struct Opened {
  std::unique_ptr<projection::Catalog> catalog;
  std::unique_ptr<store::Store> store;
};

// A switch or a drop takes the engine's lock (StoreRole::kEngine): while `run` drives the store
// it is refused, and the REST routes of that run do it instead.
absl::StatusOr<Opened> Open(const CommonOptions& common, store::StoreRole role) {
  auto config = LoadWithStore(common);
  if (!config.ok()) return config.status();
  Opened opened;
  auto catalog = projection::Compile(*config);
  if (!catalog.ok()) return catalog.status();
  opened.catalog = std::move(*catalog);
  auto store = store::OpenStore(engine::StoreOptionsFor(config->store), role);
  if (!store.ok()) return store.status();
  opened.store = std::move(*store);
  if (role != store::StoreRole::kReader) {
    absl::Status s = opened.store->Init();
    if (!s.ok()) return s;
  }
  return opened;
}

void Say(const std::string& line) { std::printf("%s\n", line.c_str()); }

}  // namespace

int ViewsList(const CommonOptions& common, const std::string& view, bool json) {
  auto opened = Open(common, store::StoreRole::kReader);
  if (!opened.ok()) return Fail(opened.status());
  if (!view.empty() && opened->catalog->FindView(view) < 0) {
    return Fail(absl::NotFoundError(absl::StrCat("no view named '", view, "'")));
  }
  auto versions = engine::ListVersions(*opened->store, *opened->catalog, view);
  if (!versions.ok()) return Fail(versions.status());
  if (!json) {
    std::printf("%-24s %-8s %-10s %-32s %-18s %-8s %-10s %s\n", "VIEW", "VERSION", "ROLE", "TABLE",
                "DEFINITION", "CONFIG", "ROWS", "LAGS");
  }
  for (const engine::VersionInfo& info : *versions) {
    const store::ViewVersion& v = info.version;
    if (json) {
      std::printf(
          "{\"view\":\"%s\",\"version\":%lld,\"role\":\"%s\",\"table\":\"%s\","
          "\"definition_hash\":\"%s\",\"config_version\":%lld,\"rows\":%lld,\"lags\":%s,"
          "\"maintained\":%s,\"as_of\":\"%s\"}\n",
          JsonEscape(v.view).c_str(), static_cast<long long>(v.version), info.role.c_str(),
          JsonEscape(v.table).c_str(), JsonEscape(v.definition_hash).c_str(),
          static_cast<long long>(v.config_version), static_cast<long long>(info.rows),
          info.lags ? "true" : "false", info.maintained ? "true" : "false",
          JsonEscape(v.as_of).c_str());
    } else {
      std::printf("%-24s %-8lld %-10s %-32s %-18s %-8lld %-10lld %s\n", v.view.c_str(),
                  static_cast<long long>(v.version), info.role.c_str(), v.table.c_str(),
                  v.definition_hash.c_str(), static_cast<long long>(v.config_version),
                  static_cast<long long>(info.rows),
                  info.lags ? "yes" : (info.maintained ? "no (maintained)" : "no"));
    }
  }
  return 0;
}

int ViewsSwitch(const CommonOptions& common, bool promote, const std::string& view, int64_t version,
                int sample_rows) {
  auto opened = Open(common, store::StoreRole::kEngine);
  if (!opened.ok()) return Fail(opened.status());
  engine::SwitchRequest request;
  request.view = view;
  request.kind = promote ? engine::SwitchKind::kPromote : engine::SwitchKind::kRollback;
  if (version != 0) request.version = version;
  if (sample_rows > 0) request.sample_rows = sample_rows;
  auto active = engine::SwitchVersion(*opened->store, *opened->catalog, request, Say);
  if (!active.ok()) return Fail(active.status());
  return 0;
}

int ViewsDrop(const CommonOptions& common, const std::string& view, int64_t version) {
  auto opened = Open(common, store::StoreRole::kEngine);
  if (!opened.ok()) return Fail(opened.status());
  absl::Status s = engine::DropVersion(*opened->store, view, version);
  if (!s.ok()) return Fail(s);
  Say(absl::StrCat("view ", view, ": version ", version, " dropped"));
  return 0;
}

}  // namespace sv::cli
