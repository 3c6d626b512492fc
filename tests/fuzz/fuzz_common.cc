#include "fuzz/fuzz_common.h"

#include <cstdio>
#include <cstdlib>

namespace sv::fuzz {

const config::Config& OrdersConfig() {
  static const config::Config* config = [] {
    auto loaded = config::LoadConfig(SV_SOURCE_DIR "/examples/orders/streamview.yaml");
    if (!loaded.ok()) {
      std::fprintf(stderr, "fuzz: the orders example does not load: %s\n",
                   loaded.status().ToString().c_str());
      std::abort();
    }
    return new config::Config(std::move(*loaded));
  }();
  return *config;
}

std::unique_ptr<projection::Catalog> CompileOrUnreachable(const config::Config& config) {
  auto catalog = projection::Compile(config);
  if (!catalog.ok()) {
    std::fprintf(stderr, "fuzz: the fixed config does not compile: %s\n",
                 catalog.status().ToString().c_str());
    std::abort();
  }
  return std::move(*catalog);
}

void Explain(const absl::Status& status) {
  if (!status.ok() && std::getenv("SV_FUZZ_VERBOSE") != nullptr) {
    std::fprintf(stderr, "fuzz: %s\n", status.ToString().c_str());
  }
}

const projection::Catalog& OrdersCatalog() {
  static const projection::Catalog* catalog = CompileOrUnreachable(OrdersConfig()).release();
  return *catalog;
}

}  // namespace sv::fuzz
