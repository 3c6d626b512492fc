#pragma once
// Deterministic NDJSON workload for the transport example (examples/tms/streamview.yaml, seed
// 000): shipments of several organizations and carriers move through their lifecycle.
//
// Per shipment (key shipmentId, per-shipment `sequence` 1, 2, 3…): ShipmentCreated, 0–3
// ConsignmentAdded (handling units of a type, weight), sometimes CarrierAssigned (the shipment
// moves to another carrier's groups), StatusChanged PickedUp → InTransit → Delivered, with an
// Exception on the way for some, Cancelled instead for a few, and ShipmentDeleted for a very
// few. Event times follow each shipment's own schedule (creation spread over about two
// months). About 100 shipments are open at once; duplicates and swaps are added on top.

#include <cstdint>
#include <ostream>

#include "absl/status/status.h"

namespace sv::gen {

struct ShipmentsWorkload {
  int64_t shipments = 1000;
  uint64_t seed = 1;
  int orgs = 5;
  int carriers = 12;
  double dup_rate = 0.02;      // an event line is emitted again a few lines later
  double reorder_rate = 0.02;  // an event line is swapped with one within reorder_window
  int reorder_window = 8;
};

struct ShipmentsStats {
  int64_t lines = 0;
  int64_t events = 0;  // distinct events (before duplication)
  int64_t duplicates = 0;
  int64_t reordered = 0;
};

absl::Status GenerateShipments(const ShipmentsWorkload& workload, std::ostream& out,
                               ShipmentsStats* stats = nullptr);

}  // namespace sv::gen
