#pragma once
// The multiset difference of two row sets, as reconciliation needs it: reals compare within a
// relative tolerance (a store sums in another order than the engine), everything else exactly.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/value.h"

namespace sv::engine {

// Two rows agree when their reals are within `relative_tolerance` of each other (a derived view
// computed in another order sums otherwise) and every other value is equal.
bool RowsAgree(const Row& a, const Row& b, double relative_tolerance = 1e-9);

class RowDiff {
 public:
  void AddHeld(const Row& row) { Add(row, &Group::held); }
  void AddComputed(const Row& row) { Add(row, &Group::computed); }

  struct Result {
    int64_t missing = 0;                // computed rows with no held counterpart
    int64_t unexpected = 0;             // held rows with no computed counterpart
    std::vector<std::string> examples;  // "+ row" (held only) / "- row" (computed only)
  };
  // Pairs rows whose exact parts are equal and whose reals agree within `relative_tolerance`.
  Result Finish(size_t max_examples, double relative_tolerance = 1e-9) const;

 private:
  // A row split into its exact part (rendered) and its real columns.
  using Reals = std::vector<double>;
  struct Group {
    std::vector<Reals> held;
    std::vector<Reals> computed;
  };
  void Add(const Row& row, std::vector<Reals> Group::*side);

  std::map<std::string, Group> groups_;  // keyed by the exact part, with reals as placeholders
};

}  // namespace sv::engine
