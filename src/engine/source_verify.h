#pragma once
// Reconciliation against the source (engine/source_verify.cc): every view's rows compared, key
// by key, with what the source says — the source folded into a shadow beside the live views
// (the tenant rebuild's job), standing at the live position when the two are compared.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/value.h"

namespace sv::engine {

struct VerifyRequest {
  std::optional<Value> tenant;  // only this organization's rows (views with a tenant column)
  bool repair = false;          // write the drifting keys' rows as the source says
  size_t max_keys = 100;        // keys listed per view and kind (the totals count them all)
};

// One organization's rows of a tenant view, live and as the source says.
struct OrganizationCounts {
  std::string tenant;
  int64_t live = 0;
  int64_t source = 0;
};

struct ViewDrift {
  std::string view;
  std::string skipped;  // why the view was not compared with its source; empty: compared
  int64_t live_rows = 0;
  int64_t source_rows = 0;
  int64_t missing = 0;    // keys the source gives and the view lacks
  int64_t extra = 0;      // keys the view holds and the source does not give
  int64_t differing = 0;  // keys on both sides with another row
  std::vector<std::string> missing_keys, extra_keys, differing_keys;  // the first max_keys
  std::vector<OrganizationCounts> organizations;  // by tenant value; first max_keys
  int64_t repaired = 0;                           // rows written (--repair)
  bool Drifted() const { return missing + extra + differing > 0; }
};

struct VerifyReport {
  std::vector<ViewDrift> views;
  int64_t events = 0;       // source records folded into the shadow
  int64_t tail_events = 0;  // ... of them applied by the live loop while the shadow was folded
  double seconds = 0;
  bool repair = false;
  bool Drifted() const {
    for (const ViewDrift& v : views)
      if (v.Drifted()) return true;
    return false;
  }
};

// A verify in progress: one fold job per source in turn, the report filled as each ends.
struct VerifyRun {
  VerifyRequest request;
  std::vector<int> sources;  // still to fold, in order
  VerifyReport report;
  int64_t started_us = 0;
  // Told the outcome once (on the loop's thread, or the caller's for Engine::Verify).
  std::function<void(const absl::StatusOr<VerifyReport>&)> done;
};

}  // namespace sv::engine
