// `streamview contracts check OLD NEW`: the schema registry's BACKWARD rule on two JSON Schema
// files, for a CI step before a producer ships a new event version.

#include <cstdio>

#include "cli/commands.h"
#include "contracts/contracts.h"

namespace sv::cli {

int ContractsCheck(const std::string& old_file, const std::string& new_file) {
  absl::StatusOr<std::shared_ptr<const contracts::Contract>> old_schema =
      contracts::Contract::FromFile(old_file);
  absl::StatusOr<std::shared_ptr<const contracts::Contract>> new_schema =
      contracts::Contract::FromFile(new_file);
  absl::StatusOr<std::vector<contracts::Incompatibility>> found =
      !old_schema.ok() ? old_schema.status()
      : !new_schema.ok()
          ? new_schema.status()
          : contracts::BackwardIncompatibilities((*old_schema)->text(), (*new_schema)->text());
  if (!found.ok()) {
    std::fprintf(stderr, "contracts check: %s\n", std::string(found.status().message()).c_str());
    return 2;
  }
  if (found->empty()) {
    std::printf("%s is BACKWARD compatible with %s\n", new_file.c_str(), old_file.c_str());
    return 0;
  }
  std::printf("%s is NOT BACKWARD compatible with %s (%zu changes):\n", new_file.c_str(),
              old_file.c_str(), found->size());
  for (const contracts::Incompatibility& change : *found) {
    std::printf("  at %s: %s\n", change.path.c_str(), change.change.c_str());
  }
  return 1;
}

}  // namespace sv::cli
