#pragma once
// The engine's spans (README "Traces"). An event that arrives with a sampled `traceparent`
// (a Kafka header, a header of the embedded log's envelope) is traced under it:
//
//   <incoming parent> → poll → decode, apply (one each per such event), commit (per batch)
//
// with one poll span and one commit span per distinct incoming parent in a batch. A batch with
// none is a new trace with the configured ratio: a root `poll` and its `commit`. Times are taken
// as the batch runs (on whichever lane), and the spans exported once it committed: a batch that
// fails to commit leaves no spans, its events come again.

#include <cstdint>
#include <string>
#include <vector>

#include "trace/trace.h"

namespace sv::engine {

struct TracedEvent {
  trace::SpanContext parent;  // the incoming traceparent (sampled)
  trace::SpanId decode_span{};
  trace::SpanId apply_span{};
  std::string source;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string type;  // "" when the record could not be decoded
  std::string key;
  int64_t views = 0;  // views the event's type feeds
  bool dead_letter = false;
  int64_t poll_start_ns = 0, poll_end_ns = 0;
  int64_t decode_start_ns = 0, decode_end_ns = 0;
  int64_t apply_start_ns = 0, apply_end_ns = 0;
};

// A poll that started a trace of its own (sampled by the ratio).
struct TracedPoll {
  trace::SpanContext context;
  std::string source;
  int64_t records = 0;
  int64_t start_ns = 0, end_ns = 0;
};

// The `traceparent` among `headers`, when it is valid and sampled.
const trace::SpanContext* FindSampledParent(
    const std::vector<std::pair<std::string, std::string>>& headers, trace::SpanContext* storage);

// Exports a committed batch's spans; `commit_*` time the store transaction.
void ExportBatchSpans(const std::vector<TracedEvent>& events, const std::vector<TracedPoll>& polls,
                      int64_t commit_start_ns, int64_t commit_end_ns, int64_t rows_written);

}  // namespace sv::engine
