#include "gen/gen_command.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"
#include "gen/orders_generator.h"
#include "gen/shipments_generator.h"

namespace sv::gen {

int RunGenCommand(int argc, char** argv) {
  // Accept main's argv ("streamview gen orders ...") as well as argv + 1 ("gen orders ...").
  const int start = (argc > 1 && std::string_view(argv[1]) == "gen") ? 2 : 1;
  std::vector<const char*> args = {"streamview gen"};
  for (int i = start; i < argc; ++i) args.push_back(argv[i]);

  CLI::App app{"Generate a deterministic NDJSON workload.", "streamview gen"};
  app.require_subcommand(1, 1);
  OrdersWorkload w;
  std::string out_path = "-";
  bool quiet = false;
  CLI::App* orders = app.add_subcommand(
      "orders", "OrderCreated / OrderItemAdded / OrderStatusChanged events with disorder.");
  orders->add_option("--orders", w.orders, "Number of orders (about 5 events each)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  orders->add_option("--seed", w.seed, "Seed: the same seed gives the same bytes")
      ->capture_default_str();
  orders->add_option("--dup-rate", w.dup_rate, "Share of event lines repeated a few lines later")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  orders
      ->add_option("--reorder-rate", w.reorder_rate,
                   "Share of event lines swapped with a line within the reorder window")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  orders
      ->add_option("--delay-rate", w.delay_rate,
                   "Share of event lines moved delay-distance lines later")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  orders
      ->add_option("--malformed-rate", w.malformed_rate,
                   "Malformed lines per event (dead letters, including one poison per order)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  orders->add_option("--envelope-rate", w.envelope_rate, "Share of events written as envelopes")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  orders->add_option("--reorder-window", w.reorder_window, "Lines a swap may reach")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  orders->add_option("--delay-distance", w.delay_distance, "Lines a delayed event is moved")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  orders->add_option("--out", out_path, "Output file, or - for stdout")->capture_default_str();
  orders->add_flag("--quiet,-q", quiet, "No summary on stderr");

  ShipmentsWorkload sw;
  CLI::App* shipments = app.add_subcommand(
      "shipments", "Transport shipments (seed 000): lifecycle, consignments, carrier changes.");
  shipments->add_option("--shipments", sw.shipments, "Number of shipments (about 6 events each)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  shipments->add_option("--seed", sw.seed, "Seed: the same seed gives the same bytes")
      ->capture_default_str();
  shipments->add_option("--orgs", sw.orgs, "Organizations")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  shipments->add_option("--carriers", sw.carriers, "Carriers")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  shipments->add_option("--dup-rate", sw.dup_rate, "Share of event lines repeated")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  shipments->add_option("--reorder-rate", sw.reorder_rate, "Share of event lines swapped")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  shipments->add_option("--out", out_path, "Output file, or - for stdout")->capture_default_str();
  shipments->add_flag("--quiet,-q", quiet, "No summary on stderr");

  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  const auto started = std::chrono::steady_clock::now();
  OrdersStats stats;
  ShipmentsStats shipment_stats;
  const bool is_shipments = shipments->parsed();
  auto generate = [&](std::ostream& out) {
    if (!is_shipments) return GenerateOrders(w, out, &stats);
    absl::Status s = GenerateShipments(sw, out, &shipment_stats);
    stats.lines = shipment_stats.lines;
    stats.events = shipment_stats.events;
    stats.duplicates = shipment_stats.duplicates;
    stats.reordered = shipment_stats.reordered;
    return s;
  };
  absl::Status status;
  if (out_path == "-") {
    status = generate(std::cout);
    std::cout.flush();
    if (status.ok() && !std::cout) status = absl::DataLossError("writing to stdout failed");
  } else {
    std::ofstream file(out_path, std::ios::binary | std::ios::trunc);
    if (!file) {
      std::cerr << "streamview gen: cannot open " << out_path << " for writing\n";
      return 1;
    }
    status = generate(file);
    file.close();
    if (status.ok() && !file) status = absl::DataLossError("closing " + out_path + " failed");
  }
  if (!status.ok()) {
    std::cerr << "streamview gen: " << status << "\n";
    return 1;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!quiet) {
    std::cerr << absl::StrFormat(
        "{\"lines\":%d,\"events\":%d,\"duplicates\":%d,\"reordered\":%d,\"delayed\":%d,"
        "\"malformed\":%d,\"seconds\":%.3f}\n",
        stats.lines, stats.events, stats.duplicates, stats.reordered, stats.delayed,
        stats.malformed, seconds);
  }
  return 0;
}

}  // namespace sv::gen
