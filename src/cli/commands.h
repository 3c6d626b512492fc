#pragma once
// The streamview subcommands; main() only parses arguments and dispatches here.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"

namespace sv::cli {

struct CommonOptions {
  std::string config_path;
  std::string store_path;  // overrides the config's store path
};

// The config, with --store replacing its store when given.
absl::StatusOr<config::Config> LoadWithStore(const CommonOptions& common);

int Ingest(const CommonOptions& common, const std::string& file, const std::string& source,
           int64_t rate, size_t batch, int64_t skip_lines);
// `listen` (host:port) starts the HTTP server even without a `server` section in the config.
int Run(const CommonOptions& common, bool exit_when_caught_up, const std::string& latency_report,
        const std::string& listen);
// Without `promote` the new versions are built and kept beside the active ones (views promote).
int Rebuild(const CommonOptions& common, const std::vector<std::string>& views, bool allow_partial,
            bool promote);
// One organization's rows of tenant views: `tenant` (--tenant) or `where` (--where
// "<tenant column> = 'value'"), exactly one of them not empty.
int RebuildTenant(const CommonOptions& common, const std::vector<std::string>& views,
                  const std::string& tenant, const std::string& where);
int DlqList(const CommonOptions& common, bool json);
int DlqReplay(const CommonOptions& common, int64_t id, const std::string& payload_file);
int DlqDiscard(const CommonOptions& common, int64_t id);
int Stats(const CommonOptions& common);
int Check(const CommonOptions& common);
// Reconciliation (exit 1 on drift): every view against its source folded into a shadow (only
// organization `tenant`'s rows when not empty; `repair` writes the drifting keys as the source
// says), then every derived view against its SELECT run by the store.
struct VerifyOptions {
  std::string tenant;
  bool repair = false;
  size_t max_keys = 100;
};
int Verify(const CommonOptions& common, const VerifyOptions& options);
// A change-feed source taken out of the config leaves its slot behind, holding WAL: drops it
// (and its publication when named).
// Exit 0: NEW is BACKWARD compatible with OLD; 1: it is not (each change printed); 2: error.
int ContractsCheck(const std::string& old_file, const std::string& new_file);
int DropSlot(const std::string& dsn, const std::string& slot, const std::string& publication);

// Blue/green view versions (cli/views_commands.cc, engine/view_versions.h).
int ViewsList(const CommonOptions& common, const std::string& view, bool json);
// Promote (or roll back); `version` 0: the default one.
int ViewsSwitch(const CommonOptions& common, bool promote, const std::string& view, int64_t version,
                int sample_rows);
int ViewsDrop(const CommonOptions& common, const std::string& view, int64_t version);

}  // namespace sv::cli
