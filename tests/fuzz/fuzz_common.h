#pragma once
// Shared by the fuzz targets: the orders example (examples/orders/streamview.yaml), the config
// every target parses its input against, loaded once per process.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "config/config.h"
#include "projection/projection.h"

namespace sv::fuzz {

// The example's config and its compiled catalog. Abort when the example does not load: that
// is a broken checkout, not a finding.
const config::Config& OrdersConfig();
std::unique_ptr<projection::Catalog> CompileOrUnreachable(const config::Config& config);
const projection::Catalog& OrdersCatalog();

// Prints why an input was rejected when SV_FUZZ_VERBOSE is set (writing seeds, reading a run).
void Explain(const absl::Status& status);

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace sv::fuzz
