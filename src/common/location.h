#pragma once
// Where something was written in a user's file, for "file:line:col: problem" errors.

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace sv {

struct Location {
  std::string file;
  int line = 0;    // 1-based; 0 = unknown
  int column = 0;  // 1-based; 0 = unknown
  std::string ToString() const;
  // The location of character `offset` of a text that starts at this location (follows
  // newlines inside the text).
  Location Advance(std::string_view text, size_t offset) const;
};

// InvalidArgument "file:line:col: message".
absl::Status ErrorAt(const Location& loc, std::string_view message);

}  // namespace sv
