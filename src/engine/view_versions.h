#pragma once
// Blue/green view versions: the versions of a view kept beside the active one, and switching
// readers between them.
//
// A swap (a rebuild, a changed definition) keeps the version it replaces as a *standby*
// instead of dropping it, and `rebuild --no-promote` builds a *candidate* beside the active
// version without switching to it. A candidate built that way, and the version a promotion or
// rollback leaves, are *maintained*: every batch of the live loop folds the same events into
// its table in the same transaction as the active one's (at most one such version per view;
// base views only), so it stays at the live positions across batches, crashes and restarts.
// Any other kept version stands at the source positions recorded when it stopped being (or was
// built beside) the active one, its `as_of`. Switching to a version is refused once the live
// positions moved past that (it lags), when the config does not define it (the engine could not
// maintain it), and, for a promotion, when it fails validation against the serving version.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "projection/projection.h"
#include "store/store.h"

namespace sv::engine {

// The `as_of` of a maintained version: its rows stand wherever the live positions do, since
// every batch writes them with the active version's (engine::Engine::LoadMaintainedVersions).
inline constexpr char kMaintainedAsOf[] = "maintained";

// Whether rows written as `a` and as `b` are alike: the same columns (names and types) in the
// same order, and the same key.
bool SameShape(const store::TableSpec& a, const store::TableSpec& b);

// Whether the live loop can keep an inactive version of `view` current: a base view's version
// of the definition it runs (a derived view's versions follow no batch of their own).
bool Maintainable(const projection::ViewPlan& view, const store::ViewVersion& version);

// A changed definition (config `previous:` on a view): the plan of `view`'s previous definition
// when the engine can run it beside the view's own, keeping the version built from it current
// while the new definition's version is built in the background, and after a promotion (for a
// rollback); else null, with `why` (if given) saying why not. Their columns and keys may differ
// (the server reads each version with its own), unless a lookup reads the view; the derived
// views that read it follow the serving version (the engine also needs their columns to be the
// same over either definition: Engine::CompilePreviousDefinitions).
const projection::ViewPlan* RunnablePrevious(const projection::Catalog& catalog, int view,
                                             std::string* why = nullptr);

// Whether the catalog defines `version` of `view`: built from its definition, or from its
// runnable previous one.
bool DefinedBy(const projection::Catalog& catalog, int view, const store::ViewVersion& version);

// The positions of the sources `view` reads (its own, or its inputs' for a derived view), as
// recorded in ViewVersion::as_of: "source/partition=position;…" in a fixed order.
absl::StatusOr<std::string> CurrentAsOf(store::StateStore& store,
                                        const projection::Catalog& catalog, int view);

// A version and what it is to its view.
struct VersionInfo {
  store::ViewVersion version;
  // "active"; "standby" (an older kept version, for a rollback); "candidate" (a newer one,
  // built unpromoted or rolled back from); "leftover" (an unkept one, dropped at next start).
  std::string role;
  int64_t rows = -1;        // -1: the store cannot count (no SQL)
  bool lags = false;        // inactive and behind the live positions
  bool maintained = false;  // inactive and kept current by the live loop (kMaintainedAsOf)
};

// Every version of every view of `catalog` (of `view` alone when not empty), in view and version
// order. Versions of views the catalog does not know are listed too (role as stored).
absl::StatusOr<std::vector<VersionInfo>> ListVersions(store::Store& store,
                                                      const projection::Catalog& catalog,
                                                      const std::string& view);

enum class SwitchKind {
  kPromote,   // to a newer kept version (default: the newest)
  kRollback,  // to an older kept version (default: the newest older one)
};

struct SwitchRequest {
  std::string view;
  SwitchKind kind = SwitchKind::kPromote;
  std::optional<int64_t> version;  // none: the default of `kind`
  int sample_rows = 100;           // rows compared with the serving version on a promotion
};

// Points `request.view` at another kept version in one transaction (readers see the old or the
// new version, never a mix); the version it leaves is kept, maintained when the catalog can
// maintain it (any other maintained version of the view stops being so). Refused
// (FailedPrecondition, with what differs) when the target lags, is not defined by the catalog or,
// for a promotion, fails validation: row counts differ, or sampled keys are missing on a side keyed
// by key columns of the other (both sides when the key is the same),
// or — when both versions share a definition — sampled rows differ. `say` hears what was checked.
// Returns the version now active.
//
// The derived views that read the view (DerivedReaders) are computed from the version readers
// read: `activate`, given, makes the target active together with their recomputed rows, in one
// transaction (Engine::ActivateWithDerived); without it (no engine runs the loop) such a switch
// is refused.
using Activate = std::function<absl::Status(const store::ViewVersion& target)>;
absl::StatusOr<store::ViewVersion> SwitchVersion(store::Store& store,
                                                 const projection::Catalog& catalog,
                                                 const SwitchRequest& request,
                                                 const std::function<void(std::string)>& say,
                                                 const Activate& activate = nullptr);

// The incrementally maintained derived views that read `view`, directly or through another
// derived view, in catalog order.
std::vector<int> DerivedReaders(const projection::Catalog& catalog, int view);

// Drops a kept (or leftover) version of `view`; the active version is refused.
absl::Status DropVersion(store::Store& store, const std::string& view, int64_t version);

// Keeps the newest `standbys` older kept versions of `view` and its newest candidate, dropping
// the rest: disk use stays bounded whatever the number of swaps.
absl::Status PruneKeptVersions(store::Store& store, const std::string& view, int standbys);

}  // namespace sv::engine
