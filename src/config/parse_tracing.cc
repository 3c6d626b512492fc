// `tracing:` — where spans go and how many traces are kept (trace/, README "Traces").

#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "config/parser.h"

namespace sv::config::internal {

absl::Status Parser::ParseTracing(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "tracing"));
  SV_RETURN_IF_ERROR(CheckKeys(
      entries,
      {"endpoint", "sample_ratio", "service_name", "batch_size", "flush_ms", "queue_spans"},
      "tracing"));
  SV_RETURN_IF_ERROR(CheckRequired(entries, "endpoint", entry.key, "tracing"));
  TracingConfig& tracing = config->tracing;
  tracing.enabled = true;
  tracing.loc = LocOf(entry.key);
  for (const Entry& e : entries) {
    const std::string what = absl::StrCat("tracing.", e.name);
    if (e.name == "endpoint") {
      SV_ASSIGN_OR_RETURN(tracing.endpoint, ScalarText(e.value, e.key, what));
      // Only plain HTTP: the exporter speaks to a local collector or agent.
      const std::string& url = tracing.endpoint;
      const size_t host_start = absl::StartsWith(url, "http://") ? 7 : std::string::npos;
      if (host_start == std::string::npos || url.size() == host_start || url[host_start] == '/' ||
          url[host_start] == ':') {
        return Err(e.value,
                   absl::StrCat(what, " must be http://host[:port][/path], not ", Quoted(url)));
      }
    } else if (e.name == "sample_ratio") {
      double ratio = -1;
      if (!e.value.IsScalar() || !absl::SimpleAtod(e.value.Scalar(), &ratio) || !(ratio >= 0) ||
          ratio > 1) {
        return Err(e.value.IsScalar() ? e.value : e.key,
                   absl::StrCat(what, " must be a number between 0 and 1, not ",
                                e.value.IsScalar() ? Quoted(e.value.Scalar())
                                                   : std::string(KindName(e.value))));
      }
      tracing.sample_ratio = ratio;
    } else if (e.name == "service_name") {
      SV_ASSIGN_OR_RETURN(tracing.service_name, Name(e, what));
    } else if (e.name == "batch_size") {
      SV_ASSIGN_OR_RETURN(tracing.batch_size, Integer(e, what, 1, 100'000));
    } else if (e.name == "flush_ms") {
      SV_ASSIGN_OR_RETURN(tracing.flush_ms, Integer(e, what, 1, 600'000));
    } else {
      SV_ASSIGN_OR_RETURN(tracing.queue_spans, Integer(e, what, 1, 10'000'000));
    }
  }
  return absl::OkStatus();
}

}  // namespace sv::config::internal
