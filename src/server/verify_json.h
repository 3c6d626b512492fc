#pragma once
// The JSON of a verify against the source (engine/source_verify.h): one object per view, as
// `streamview verify` prints them a line each and GET /views/verify lists them.

#include <string>

#include "engine/source_verify.h"

namespace sv::server {

// {"check":"source","view":…,"live_rows":…,"source_rows":…,"missing":…,"extra":…,
//  "differing":…,"missing_keys":[…],"extra_keys":[…],"differing_keys":[…],
//  "organizations":[{"tenant","live","source"}…],"repaired":…} or, for a view not compared,
// {"check":"source","view":…,"skipped":why}.
std::string ViewDriftJson(const engine::ViewDrift& drift);

}  // namespace sv::server
