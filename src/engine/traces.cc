#include "engine/traces.h"

#include <map>
#include <optional>
#include <utility>

#include "engine/engine.h"

namespace sv::engine {
namespace {

trace::SpanData Span(std::string name, const trace::SpanContext& context,
                     const trace::SpanId& parent, int64_t start_ns, int64_t end_ns) {
  trace::SpanData span;
  span.name = std::move(name);
  span.context = context;
  span.parent_span_id = parent;
  span.start_ns = start_ns;
  span.end_ns = end_ns;
  return span;
}

}  // namespace

const trace::SpanContext* FindSampledParent(
    const std::vector<std::pair<std::string, std::string>>& headers, trace::SpanContext* storage) {
  for (const auto& [name, value] : headers) {
    if (name != trace::kTraceparentHeader) continue;
    std::optional<trace::SpanContext> parsed = trace::ParseTraceparent(value);
    // A malformed or unsampled parent: the event is not traced under it (never an error).
    if (!parsed || !parsed->sampled) return nullptr;
    *storage = *parsed;
    return storage;
  }
  return nullptr;
}

void ExportBatchSpans(const std::vector<TracedEvent>& events, const std::vector<TracedPoll>& polls,
                      int64_t commit_start_ns, int64_t commit_end_ns, int64_t rows_written) {
  if (!trace::Enabled()) return;
  struct Group {
    trace::SpanContext poll;  // the poll span's context, a child of the incoming parent
    trace::SpanId parent{};
    std::string source;
    int64_t start_ns = 0, end_ns = 0;
    int64_t events = 0;
  };
  // One poll and one commit per distinct incoming parent (trace id, span id).
  std::map<std::pair<trace::TraceId, trace::SpanId>, Group> groups;
  std::vector<trace::SpanData> out;
  for (const TracedEvent& e : events) {
    auto [it, fresh] = groups.try_emplace({e.parent.trace_id, e.parent.span_id});
    Group& g = it->second;
    if (fresh) {
      g.poll = trace::ChildOf(e.parent);
      g.parent = e.parent.span_id;
      g.source = e.source;
      g.start_ns = e.poll_start_ns;
      g.end_ns = e.poll_end_ns;
    }
    ++g.events;
    trace::SpanData decode =
        Span("decode", g.poll, g.poll.span_id, e.decode_start_ns, e.decode_end_ns);
    decode.context.span_id = e.decode_span;
    decode.attributes = {
        {"sv.source", e.source}, {"sv.partition", int64_t{e.partition}},
        {"sv.offset", e.offset}, {"sv.event_type", e.type},
        {"sv.key", e.key},       {"sv.outcome", e.dead_letter ? "dead_letter" : "ok"}};
    out.push_back(std::move(decode));
    if (e.apply_start_ns != 0) {
      trace::SpanData apply =
          Span("apply", g.poll, g.poll.span_id, e.apply_start_ns, e.apply_end_ns);
      apply.context.span_id = e.apply_span;
      apply.attributes = {{"sv.source", e.source},
                          {"sv.partition", int64_t{e.partition}},
                          {"sv.offset", e.offset},
                          {"sv.event_type", e.type},
                          {"sv.views", e.views}};
      out.push_back(std::move(apply));
    }
  }
  auto add_poll_and_commit = [&](const trace::SpanContext& poll, const trace::SpanId& parent,
                                 const std::string& source, int64_t start, int64_t end,
                                 const char* count_name, int64_t count) {
    trace::SpanData p = Span("poll", poll, parent, start, end);
    p.kind = trace::SpanKind::kConsumer;
    p.attributes = {{"sv.source", source}, {count_name, count}};
    out.push_back(std::move(p));
    trace::SpanData c =
        Span("commit", trace::ChildOf(poll), poll.span_id, commit_start_ns, commit_end_ns);
    c.attributes = {{"sv.source", source}, {"sv.rows_written", rows_written}};
    out.push_back(std::move(c));
  };
  for (const auto& [id, g] : groups) {
    add_poll_and_commit(g.poll, g.parent, g.source, g.start_ns, g.end_ns, "sv.traced_events",
                        g.events);
  }
  for (const TracedPoll& p : polls) {
    add_poll_and_commit(p.context, trace::SpanId{}, p.source, p.start_ns, p.end_ns, "sv.records",
                        p.records);
  }
  for (trace::SpanData& span : out) trace::Export(std::move(span));
}

void Engine::NotePoll(SourceState& st, int64_t start_ns) {
  const int64_t end_ns = trace::NowNanos();
  for (Lane& lane : st.lanes) lane.processor->set_poll_window(start_ns, end_ns);
  // A poll is the root of a new trace by the sampling ratio; its events that carry a sampled
  // traceparent are traced under theirs instead (Processor::Process).
  std::optional<trace::SpanContext> root = trace::NewSpan(nullptr);
  if (!root) return;
  TracedPoll poll;
  poll.context = *root;
  poll.source = catalog_->sources[st.index].config.name;
  poll.records = static_cast<int64_t>(st.records.size());
  poll.start_ns = start_ns;
  poll.end_ns = end_ns;
  st.traced_polls.push_back(std::move(poll));
}

}  // namespace sv::engine
