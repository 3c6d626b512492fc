#include "engine/decoder.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "common/json_value.h"
#include "common/time_util.h"
#include "source/open.h"

namespace sv::engine {
namespace {

std::vector<std::string> SplitPath(const std::string& dotted) {
  std::vector<std::string> parts;
  if (dotted.empty()) return parts;
  size_t start = 0;
  while (true) {
    const size_t dot = dotted.find('.', start);
    parts.push_back(dotted.substr(start, dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

bool Lookup(simdjson::dom::element root, const std::vector<std::string>& path,
            simdjson::dom::element* out) {
  if (path.empty()) return false;
  simdjson::dom::element cur = root;
  for (const std::string& p : path) {
    simdjson::dom::object obj;
    if (cur.get_object().get(obj) != simdjson::SUCCESS) return false;
    if (obj.at_key(p).get(cur) != simdjson::SUCCESS) return false;
  }
  if (cur.is_null()) return false;
  *out = cur;
  return true;
}

// A key, type or id may be written as a string or a number.
bool ScalarText(simdjson::dom::element el, std::string* out) {
  std::string_view sv;
  if (el.get_string().get(sv) == simdjson::SUCCESS) {
    out->assign(sv);
    return true;
  }
  int64_t i;
  if (el.get_int64().get(i) == simdjson::SUCCESS) {
    *out = absl::StrCat(i);
    return true;
  }
  return false;
}

bool ParseInt(std::string_view text, int64_t* out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

const std::string* FindHeader(const std::vector<std::pair<std::string, std::string>>& headers,
                              const std::string& name) {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

}  // namespace

Decoder::Decoder(const projection::SourcePlan* source, DecodeScope scope)
    : source_(source),
      key_path_(SplitPath(source->config.key_field)),
      type_path_(SplitPath(source->config.type_field)),
      sequence_path_(SplitPath(source->config.sequence_field)),
      event_id_path_(SplitPath(source->config.event_id_field)),
      time_path_(SplitPath(source->config.timestamp_field)),
      version_path_(SplitPath(source->config.contracts.version_field)),
      organization_path_(SplitPath(source->config.organization_field)),
      check_contracts_(scope == DecodeScope::kEvent && source->contracts != nullptr) {
  if (scope == DecodeScope::kEvent && !source->config.kafka.schema_registry.url.empty()) {
    registry_ = contracts::SchemaRegistry::Shared(source::RegistryOptionsOf(source->config));
  }
}

bool Decoder::CheckWriterSchema(const source::SourceRecord& record, std::string* reason) {
  const std::string* id_text = FindHeader(record.headers, contracts::kSchemaIdHeader);
  int64_t id = 0;
  if (id_text == nullptr || !ParseInt(*id_text, &id)) {
    *reason = "not a Confluent-framed record (no schema id)";
    return false;
  }
  // The source fetched every id before handing its records over; a miss here is a record that
  // waited in the store (a stash) across a restart.
  absl::StatusOr<std::shared_ptr<const contracts::Contract>> schema =
      registry_->Schema(static_cast<int32_t>(id));
  if (!schema.ok()) {
    *reason = std::string(schema.status().message());
    return false;
  }
  std::optional<std::string> violation = checker_.Violation(**schema, record.value);
  if (!violation) return true;
  *reason = absl::StrCat("violates its writer schema (registry id ", id, ") ", *violation);
  return false;
}

bool Decoder::CheckContract(const DecodedEvent& event, std::string* reason) {
  const config::ContractsConfig& cfg = source_->config.contracts;
  std::optional<int64_t> version;
  const std::string* header =
      cfg.version_header.empty() ? nullptr : FindHeader(event.headers, cfg.version_header);
  simdjson::dom::element el;
  std::string text;
  if (header != nullptr) {
    text = *header;
  } else if (Lookup(event.value, version_path_, &el) && !ScalarText(el, &text)) {
    *reason = absl::StrCat("contract version field ", cfg.version_field, " is not an integer");
    return false;
  }
  if (!text.empty()) {
    int64_t v;
    if (!ParseInt(text, &v)) {
      *reason = absl::StrCat("contract version is not an integer: '", text, "'");
      return false;
    }
    version = v;
  }
  std::string missing;
  const contracts::Contract* contract = source_->contracts->Find(event.type, version, &missing);
  if (contract == nullptr) {
    if (missing.empty()) return true;  // the type has no contract
    *reason = std::move(missing);
    return false;
  }
  const std::string json = simdjson::to_string(event.value);
  std::optional<std::string> violation = checker_.Violation(*contract, json);
  if (!violation) return true;
  *reason = absl::StrCat("violates the contract of ", event.type,
                         version ? absl::StrCat(" version ", *version) : std::string(), " (",
                         contract->name(), ") ", *violation);
  return false;
}

bool Decoder::Decode(const source::SourceRecord& record, DecodedEvent* out, std::string* reason) {
  const auto& cfg = source_->config;
  out->key.clear();
  out->type.clear();
  out->type_id = -1;
  out->sequence.reset();
  out->event_id.clear();
  out->organization.clear();
  out->timestamp_us.reset();
  out->headers = record.headers;
  if (registry_ != nullptr) {
    // Before parsing: a record that is not framed is rarely JSON either, and this says why.
    if (const std::string* why = FindHeader(record.headers, contracts::kFrameErrorHeader)) {
      *reason = *why;
      return false;
    }
  }

  simdjson::dom::element root;
  auto error = parser_.parse(record.value).get(root);
  if (error) {
    *reason = absl::StrCat("unparseable JSON: ", simdjson::error_message(error));
    return false;
  }
  if (!root.is_object()) {
    *reason = "not a JSON object";
    return false;
  }
  simdjson::dom::element value = root;
  bool have_key = false;
  if (record.key) {
    out->key = *record.key;
    have_key = true;
  }
  // Envelope: {"key": …, "headers": {…}, "value": {…}} — the shape of a Kafka record.
  simdjson::dom::object obj = root.get_object().value_unsafe();
  simdjson::dom::element inner;
  if (obj.at_key("value").get(inner) == simdjson::SUCCESS && inner.is_object()) {
    simdjson::dom::element k, h;
    const bool has_key = obj.at_key("key").get(k) == simdjson::SUCCESS;
    const bool has_headers = obj.at_key("headers").get(h) == simdjson::SUCCESS;
    if (has_key || has_headers) {
      value = inner;
      if (has_key && !have_key && !k.is_null()) {
        if (!ScalarText(k, &out->key)) {
          *reason = "envelope key is neither a string nor an integer";
          return false;
        }
        have_key = true;
      }
      if (has_headers) {
        simdjson::dom::object ho;
        if (h.get_object().get(ho) != simdjson::SUCCESS) {
          *reason = "envelope headers are not an object";
          return false;
        }
        for (auto [name, hv] : ho) {
          std::string text;
          if (!ScalarText(hv, &text)) {
            *reason = absl::StrCat("header '", std::string(name), "' is not a string");
            return false;
          }
          out->headers.emplace_back(std::string(name), std::move(text));
        }
      }
    }
  }
  out->value = value;

  simdjson::dom::element el;
  if (!have_key) {
    if (cfg.key_from_envelope_only) {
      *reason = "missing key (the source takes the envelope's or message's key only)";
      return false;
    }
    if (!Lookup(value, key_path_, &el) || !ScalarText(el, &out->key) || out->key.empty()) {
      *reason = absl::StrCat("missing key (field '", cfg.key_field, "')");
      return false;
    }
  }
  const std::string* type_header =
      cfg.type_header.empty() ? nullptr : FindHeader(out->headers, cfg.type_header);
  if (type_header != nullptr) {
    out->type = *type_header;
  } else if (!Lookup(value, type_path_, &el) || !ScalarText(el, &out->type) || out->type.empty()) {
    *reason = absl::StrCat("missing event type (field '", cfg.type_field, "')");
    return false;
  }
  auto type_it = source_->type_ids.find(out->type);
  if (type_it != source_->type_ids.end()) out->type_id = type_it->second;

  const std::string* seq_header =
      cfg.sequence_header.empty() ? nullptr : FindHeader(out->headers, cfg.sequence_header);
  if (seq_header != nullptr) {
    int64_t seq;
    if (!ParseInt(*seq_header, &seq)) {
      *reason =
          absl::StrCat("header ", cfg.sequence_header, " is not an integer: '", *seq_header, "'");
      return false;
    }
    out->sequence = seq;
  } else if (Lookup(value, sequence_path_, &el)) {
    int64_t seq;
    std::string text;
    if (el.get_int64().get(seq) != simdjson::SUCCESS &&
        !(ScalarText(el, &text) && ParseInt(text, &seq))) {
      *reason = absl::StrCat("field ", cfg.sequence_field, " is not an integer");
      return false;
    }
    out->sequence = seq;
  }
  if (Lookup(value, event_id_path_, &el)) ScalarText(el, &out->event_id);
  if (Lookup(value, organization_path_, &el)) ScalarText(el, &out->organization);
  if (Lookup(value, time_path_, &el)) {
    std::string_view text;
    if (el.get_string().get(text) == simdjson::SUCCESS) {
      out->timestamp_us = ParseTime(text);
      if (!out->timestamp_us) {
        *reason = absl::StrCat("field ", cfg.timestamp_field, " is not an ISO-8601 timestamp: '",
                               std::string(text), "'");
        return false;
      }
    }
  }
  if (registry_ != nullptr && !CheckWriterSchema(record, reason)) return false;
  if (check_contracts_ && out->type_id >= 0) return CheckContract(*out, reason);
  return true;
}

std::string RecordToJson(const source::SourceRecord& record) {
  if (!record.key && record.headers.empty()) return record.value;
  std::string out = "{\"key\":";
  if (record.key) {
    AppendJsonString(*record.key, &out);
  } else {
    out += "null";
  }
  out += ",\"headers\":{";
  for (size_t i = 0; i < record.headers.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(record.headers[i].first, &out);
    out += ':';
    AppendJsonString(record.headers[i].second, &out);
  }
  out += "},\"value\":";
  out += record.value;
  out += '}';
  return out;
}

}  // namespace sv::engine
