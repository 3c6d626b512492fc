// POST /events bodies: the input is a request body, turned into log lines as the route does,
// and each line read as `ingest` reads it (routing key from the orders example's source).

#include <sstream>
#include <string>

#include "engine/decoder.h"
#include "fuzz/fuzz_common.h"
#include "server/events_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sv;
  absl::StatusOr<std::string> lines = server::EventsBodyToLines(fuzz::AsText(data, size));
  if (!lines.ok()) return 0;
  engine::Decoder decoder(&fuzz::OrdersCatalog().sources[0]);
  engine::DecodedEvent event;
  std::string reason;
  source::SourceRecord record;
  std::istringstream in(*lines);
  while (std::getline(in, record.value)) (void)decoder.Decode(record, &event, &reason);
  return 0;
}
