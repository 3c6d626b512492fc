// Event decoding and envelopes. Each input line is one record of the orders example's log
// source: decoded (envelope, key, type, sequence, id, time, headers), then gated and applied to
// the example's views on in-memory rows, as the engine's processor does. Each line is also
// decoded as a Kafka record with a native key and headers, and rendered for the dead-letter
// table.

#include <string>

#include "absl/strings/str_split.h"
#include "engine/decoder.h"
#include "engine/processor.h"
#include "engine/row_sets.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sv;
  const projection::Catalog& catalog = fuzz::OrdersCatalog();
  engine::MemoryRowSet rows(catalog.views.size());
  engine::Processor processor(&catalog, 0, fuzz::OrdersConfig().gate, &rows, engine::StateLoader{});
  engine::Decoder kafka_decoder(&catalog.sources[0]);
  engine::DecodedEvent event;
  std::string reason;
  int64_t offset = 0;
  // (Debian's abseil has its own string_view type.)
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  for (absl::string_view line : absl::StrSplit(input, '\n')) {
    source::SourceRecord record;
    record.offset = ++offset;
    record.log_time_us = offset * 1'000'000;
    record.value = std::string(line);
    (void)processor.Process(record);
    (void)engine::RecordToJson(record);

    record.key = "o-1";
    record.headers = {{"x-sequence", std::to_string(offset)}, {"type", "OrderCreated"}};
    (void)kafka_decoder.Decode(record, &event, &reason);
    (void)engine::RecordToJson(record);
  }
  // Gives up every stash (an hour later in log time): the waiting events become dead letters.
  (void)processor.ExpireStashes((offset + 3600) * 1'000'000);
  processor.MaterializeCounters();
  return 0;
}
