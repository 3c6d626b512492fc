// Config loading: the input is a YAML file, read into a Config (shape errors expected, with
// file:line:col) and, when it reads, compiled as the engine does at start (every expression,
// derived view and cross-reference).

#include <string>

#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto config = sv::config::ParseConfig(std::string(sv::fuzz::AsText(data, size)), "fuzz.yaml");
  if (!config.ok()) {
    sv::fuzz::Explain(config.status());
    return 0;
  }
  sv::fuzz::Explain(sv::projection::Compile(*config).status());
  return 0;
}
