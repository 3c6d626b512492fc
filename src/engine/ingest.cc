// `streamview ingest`: NDJSON lines appended to the embedded log, each with the key it routes
// by read at ingest (so the loop need not decode a record to route it).

#include <algorithm>
#include <chrono>
#include <istream>
#include <thread>

#include "common/status_macros.h"
#include "engine/decoder.h"
#include "engine/engine.h"

namespace sv::engine {

absl::StatusOr<IngestResult> IngestLines(const projection::SourcePlan& source, store::Store* store,
                                         std::istream& in, const IngestOptions& options) {
  IngestResult result;
  const size_t batch_lines = std::max<size_t>(1, options.batch_lines);
  const auto started = std::chrono::steady_clock::now();
  Decoder decoder(&source, DecodeScope::kKeyOnly);
  std::vector<store::LogRecord> batch;
  batch.reserve(std::min<size_t>(batch_lines, 10'000));
  std::string line;
  int64_t lines_read = 0;
  auto flush = [&]() -> absl::Status {
    if (batch.empty()) return absl::OkStatus();
    if (options.rate > 0) {
      // Paced: the next append is due when the lines before it would have arrived at `rate`.
      const auto due =
          started + std::chrono::microseconds(result.appended * 1'000'000 / options.rate);
      std::this_thread::sleep_until(due);
    }
    const int64_t now = options.clock->NowMicros();
    for (store::LogRecord& r : batch) r.log_time_us = now;
    SV_ASSIGN_OR_RETURN(result.last_position, store->AppendLog(&batch));
    result.appended += static_cast<int64_t>(batch.size());
    result.lines_done = lines_read;
    if (options.progress != nullptr) *options.progress = result;
    batch.clear();
    return absl::OkStatus();
  };
  source::SourceRecord record;
  DecodedEvent ev;
  std::string reason;
  while (std::getline(in, line)) {
    if (++lines_read <= options.skip_lines) {
      result.lines_done = lines_read;
      continue;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    store::LogRecord r;
    record.value = line;
    if (decoder.Decode(record, &ev, &reason) || !ev.key.empty()) r.key = ev.key;
    r.raw = std::move(line);
    batch.push_back(std::move(r));
    if (batch.size() >= batch_lines) SV_RETURN_IF_ERROR(flush());
  }
  SV_RETURN_IF_ERROR(flush());
  return result;
}

}  // namespace sv::engine
