#include "projection/contracts_compile.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/location.h"

namespace sv::projection {

absl::StatusOr<std::shared_ptr<const contracts::ContractSet>> CompileContracts(
    const config::SourceConfig& source) {
  const config::ContractsConfig& config = source.contracts;
  if (config.files.empty()) return nullptr;
  auto set = std::make_shared<contracts::ContractSet>();
  for (const config::ContractFileConfig& file : config.files) {
    if (std::find(source.event_types.begin(), source.event_types.end(), file.type) ==
        source.event_types.end()) {
      return ErrorAt(file.loc,
                     absl::StrCat("contract for event type '", file.type, "', which source '",
                                  source.name, "' does not declare in event_types"));
    }
    absl::StatusOr<std::shared_ptr<const contracts::Contract>> contract =
        contracts::Contract::FromFile(file.path);
    if (!contract.ok()) return ErrorAt(file.loc, std::string(contract.status().message()));
    set->Add(file.type, file.version, *std::move(contract));
  }
  if (!config.backward_compatible) return set;
  for (const auto& [type, versions] : set->by_type()) {
    const contracts::Contract* previous = nullptr;
    int64_t previous_version = 0;
    for (const auto& [version, contract] : versions) {
      if (previous != nullptr) {
        absl::StatusOr<std::vector<contracts::Incompatibility>> found =
            contracts::BackwardIncompatibilities(previous->text(), contract->text());
        if (!found.ok()) return found.status();
        if (!found->empty()) {
          const std::string& path = contract->name();
          const auto entry =
              std::find_if(config.files.begin(), config.files.end(),
                           [&path](const config::ContractFileConfig& f) { return f.path == path; });
          std::string more;
          if (found->size() > 1) more = absl::StrCat(" (and ", found->size() - 1, " more)");
          return ErrorAt(
              entry->loc,
              absl::StrCat(type, " version ", version, " is not BACKWARD compatible with version ",
                           previous_version, ": at ", found->front().path, ": ",
                           found->front().change, more,
                           "; `streamview contracts check` lists every change, or "
                           "say compatibility: none"));
        }
      }
      previous = contract.get();
      previous_version = version;
    }
  }
  return set;
}

}  // namespace sv::projection
