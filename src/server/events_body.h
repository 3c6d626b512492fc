#pragma once
// POST /events bodies -> the NDJSON text the embedded log ingests. Pure: no I/O, so the same
// code is fuzzed (tests/fuzz/fuzz_events_body.cc) that the route runs.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sv::server {

// A body is NDJSON (one event or envelope per line) or, when its first non-blank character is
// '[', one JSON array of them. NDJSON passes unchanged; each array element becomes one line,
// its numbers kept as written (as an NDJSON line would carry them). InvalidArgument when a body
// that starts with '[' is not one JSON array. The array is read without recursion, so no
// nesting depth can exhaust the stack.
absl::StatusOr<std::string> EventsBodyToLines(std::string_view body);

}  // namespace sv::server
