#pragma once
// Confluent-framed records and the schema registry they name: a Kafka producer using Confluent's
// JSON Schema serializer writes a magic byte 0, the writer schema's registry id (4 bytes,
// big-endian), then the JSON document. The schema is fetched once per id from the registry's
// REST API (GET {url}/schemas/ids/{id}) and kept for the process.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "contracts/contracts.h"

namespace sv::contracts {

// Headers a framed source sets on each record for the decoder (internal: a producer's own
// headers of these names are dropped): the writer schema's id, or why the record is not framed.
inline constexpr char kSchemaIdHeader[] = "sv-schema-id";
inline constexpr char kFrameErrorHeader[] = "sv-frame-error";

struct Frame {
  int32_t schema_id = 0;
  std::string_view payload;  // into the record
};

// The frame of `record`; InvalidArgument saying what is wrong when it has none.
absl::StatusOr<Frame> Unframe(std::string_view record);

struct RegistryOptions {
  std::string url;             // e.g. http://registry:8081 (https works too)
  int64_t timeout_ms = 5'000;  // per request
  std::string user_password;   // "user:password" for HTTP basic auth, or empty
};

// The JSON Schemas of one registry, by id. Thread-safe; one instance per URL in a process, so
// the source that fetches ahead and the decoders that validate share what was fetched.
class SchemaRegistry {
 public:
  static std::shared_ptr<SchemaRegistry> Shared(const RegistryOptions& options);
  explicit SchemaRegistry(RegistryOptions options);

  // The schema registered under `id`. Errors: Unavailable when the registry could not answer
  // (unreachable, timeout, 5xx, refused credentials): ask again later, the record is not at
  // fault; NotFound when it has no such id; InvalidArgument when the schema is not a JSON Schema
  // (AVRO, PROTOBUF) or does not compile. Answers other than Unavailable are kept.
  absl::StatusOr<std::shared_ptr<const Contract>> Schema(int32_t id);

  const std::string& url() const { return options_.url; }
  int64_t fetches() const;  // requests sent, for tests and metrics

 private:
  absl::StatusOr<std::shared_ptr<const Contract>> Fetch(int32_t id);

  const RegistryOptions options_;
  mutable std::mutex mu_;
  std::map<int32_t, absl::StatusOr<std::shared_ptr<const Contract>>> known_;
  int64_t fetches_ = 0;
};

}  // namespace sv::contracts
