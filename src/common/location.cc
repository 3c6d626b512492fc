#include "common/location.h"

#include "absl/strings/str_cat.h"

namespace sv {

std::string Location::ToString() const {
  if (line <= 0) return file;
  return absl::StrCat(file, ":", line, ":", column);
}

Location Location::Advance(std::string_view text, size_t offset) const {
  Location loc = *this;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++loc.line;
      loc.column = 1;
    } else {
      ++loc.column;
    }
  }
  return loc;
}

absl::Status ErrorAt(const Location& loc, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(loc.ToString(), ": ", std::string(message)));
}

}  // namespace sv
