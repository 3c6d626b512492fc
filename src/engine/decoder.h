#pragma once
// Turns a source record into an event the gate and the projections understand: finds the
// envelope (key, headers, value), the event type, sequence, id and time. A record that cannot
// be understood yields a reason for the dead-letter store instead.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "contracts/contracts.h"
#include "contracts/registry.h"
#include "projection/projection.h"
#include "simdjson.h"
#include "source/source.h"

namespace sv::engine {

struct DecodedEvent {
  std::string key;
  std::string type;
  int type_id = -1;  // -1: not a declared type of the source
  std::optional<int64_t> sequence;
  std::string event_id;  // "" when absent
  std::optional<int64_t> timestamp_us;
  std::string organization;  // the source's organization field, as text; "" when absent
  std::vector<std::pair<std::string, std::string>> headers;
  simdjson::dom::element value;  // valid until the decoder's next Decode
};

// What a Decode reads: everything, or only the key (routing, log appends), which skips the
// contract check.
enum class DecodeScope { kEvent, kKeyOnly };

class Decoder {
 public:
  explicit Decoder(const projection::SourcePlan* source, DecodeScope scope = DecodeScope::kEvent);
  // On failure returns false and sets *reason; *key is set when the key could be read.
  bool Decode(const source::SourceRecord& record, DecodedEvent* out, std::string* reason);

 private:
  const projection::SourcePlan* source_;
  // The event's contract, if its type has one: false with *reason when it is broken.
  bool CheckContract(const DecodedEvent& event, std::string* reason);
  // A Confluent-framed record (a source with a schema registry): its payload against the writer
  // schema its id names. False with *reason when it is not framed or breaks that schema.
  bool CheckWriterSchema(const source::SourceRecord& record, std::string* reason);

  std::vector<std::string> key_path_, type_path_, sequence_path_, event_id_path_, time_path_;
  std::vector<std::string> version_path_, organization_path_;
  bool check_contracts_;
  std::shared_ptr<contracts::SchemaRegistry> registry_;  // kEvent scope with a registry only
  contracts::Checker checker_;
  simdjson::dom::parser parser_;
  simdjson::padded_string buffer_;
};

// Renders the record as one JSON line (the envelope form when it has a native key or headers),
// for the pending and dead-letter tables.
std::string RecordToJson(const source::SourceRecord& record);

}  // namespace sv::engine
