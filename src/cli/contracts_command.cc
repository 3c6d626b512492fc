// `streamview contracts check OLD NEW`: the schema registry's BACKWARD rule on two JSON Schema
// files, for a CI step before a producer ships a new event version.

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "contracts/contracts.h"

namespace sv::cli {

int ContractsCheck(const std::string& old_file, const std::string& new_file) {
  std::string texts[2];
  const std::string* files[2] = {&old_file, &new_file};
  for (int i = 0; i < 2; ++i) {
    std::ifstream in(*files[i], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "contracts check: %s cannot be read\n", files[i]->c_str());
      return 2;
    }
    std::ostringstream text;
    text << in.rdbuf();
    texts[i] = text.str();
  }
  absl::StatusOr<std::vector<contracts::Incompatibility>> found =
      contracts::BackwardIncompatibilities(texts[0], texts[1]);
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
