#pragma once
// The StreamView library: projection, snapshot and position stores over the engine's own
// store (SQLite or PostgreSQL), written together in units of work.

#include "streamview/connection.h"        // IWYU pragma: export
#include "streamview/document.h"          // IWYU pragma: export
#include "streamview/position_store.h"    // IWYU pragma: export
#include "streamview/projection_store.h"  // IWYU pragma: export
#include "streamview/snapshot_store.h"    // IWYU pragma: export
#include "streamview/status.h"            // IWYU pragma: export
#include "streamview/unit_of_work.h"      // IWYU pragma: export
