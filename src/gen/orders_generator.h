#pragma once
// Deterministic NDJSON workload for the orders example (examples/orders/streamview.yaml).
//
// Every order is OrderCreated (1–3 items), then 0–2 OrderItemAdded, then 1–5
// OrderStatusChanged, with a per-order sequence 1, 2, 3… carried either in an envelope
// (`{"key":…,"headers":{"x-sequence":"3",…},"value":{…}}`) or as a `"sequence"` field.
// About 100 orders are open at once and picked at random, so one order's events spread over
// nearby lines. On top of that stream the generator adds disorder (duplicates, swaps, long
// delays) and malformed lines (truncated JSON, no key, no type, unknown type, and a type error
// that replaces one OrderItemAdded and parks its order). The output depends only on the
// workload: the same workload gives the same bytes on every platform.

#include <cstdint>
#include <ostream>

#include "absl/status/status.h"

namespace sv::gen {

struct OrdersWorkload {
  int64_t orders = 1000;
  uint64_t seed = 1;
  double dup_rate = 0.05;       // an event line is emitted again a few lines later
  double reorder_rate = 0.05;   // an event line is swapped with one within reorder_window
  double delay_rate = 0.0;      // an event line is moved delay_distance lines later
  double malformed_rate = 0.0;  // malformed lines per event (extra lines, one poison per order)
  double envelope_rate = 0.5;   // share of events written as envelopes
  int reorder_window = 8;
  int delay_distance = 2000;
};

// What one run wrote, for tests and the CLI's summary.
struct OrdersStats {
  int64_t lines = 0;       // every line written
  int64_t events = 0;      // distinct well-formed events (before duplication)
  int64_t duplicates = 0;  // extra identical copies of event lines
  int64_t reordered = 0;
  int64_t delayed = 0;
  int64_t malformed = 0;  // lines that must be dead-lettered (sum of the five below)
  int64_t truncated = 0;
  int64_t no_key = 0;
  int64_t no_type = 0;
  int64_t unknown_type = 0;
  int64_t type_errors = 0;  // poison OrderItemAdded events (qty is a string)
};

// Writes the workload to `out` as NDJSON (one line per event, '\n' terminated).
absl::Status GenerateOrders(const OrdersWorkload& workload, std::ostream& out,
                            OrdersStats* stats = nullptr);

}  // namespace sv::gen
