#pragma once
// The inverse of EncodeKey (common/value.h): the values an encoded key was made from, for state
// kept by key that need not hold its values a second time (a derived view's groups).

#include <string_view>

#include "common/value.h"

namespace sv {

// The values EncodeKey encoded, exactly (type included); false when `data` is not such an
// encoding.
bool DecodeKey(std::string_view data, Row* out);

}  // namespace sv
