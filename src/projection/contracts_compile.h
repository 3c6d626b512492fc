#pragma once
// Reads and compiles a source's contracts (config::ContractsConfig): each file a JSON Schema,
// each version of a type BACKWARD compatible with the one before unless the config says
// `compatibility: none`. Errors name the config entry ("file:line:col: ...").

#include <memory>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "contracts/contracts.h"

namespace sv::projection {

// Null when the source declares no contracts.
absl::StatusOr<std::shared_ptr<const contracts::ContractSet>> CompileContracts(
    const config::SourceConfig& source);

}  // namespace sv::projection
