#include "contracts/registry.h"

#include <curl/curl.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"

namespace sv::contracts {
namespace {

constexpr unsigned char kMagicByte = 0;
constexpr size_t kFrameBytes = 5;

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

struct HttpAnswer {
  long status = 0;
  std::string body;
};

// One GET through libcurl. Unavailable when no HTTP answer came back.
absl::StatusOr<HttpAnswer> Get(const std::string& url, const RegistryOptions& options) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  HttpAnswer answer;
  char error[CURL_ERROR_SIZE] = "";
  curl_slist* headers =
      curl_slist_append(nullptr, "Accept: application/vnd.schemaregistry.v1+json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout_ms));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: we are threaded
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
  if (!options.user_password.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERPWD, options.user_password.c_str());
  }
  const CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat(url, ": ", *error != '\0' ? error : curl_easy_strerror(code)));
  }
  return answer;
}

std::string Excerpt(const std::string& body) {
  return body.size() <= 200 ? body : absl::StrCat(body.substr(0, 200), "…");
}

}  // namespace

absl::StatusOr<Frame> Unframe(std::string_view record) {
  if (record.size() < kFrameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a Confluent-framed record: ", record.size(),
                     " bytes, fewer than the magic byte and 4-byte schema id of a frame"));
  }
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(record[i]); };
  if (byte(0) != kMagicByte) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a Confluent-framed record: its first byte is ", byte(0),
                     ", not the magic byte 0 (a plain JSON record starts with '{', 123)"));
  }
  Frame frame;
  frame.schema_id = static_cast<int32_t>((uint32_t{byte(1)} << 24) | (uint32_t{byte(2)} << 16) |
                                         (uint32_t{byte(3)} << 8) | uint32_t{byte(4)});
  frame.payload = record.substr(kFrameBytes);
  return frame;
}

std::shared_ptr<SchemaRegistry> SchemaRegistry::Shared(const RegistryOptions& options) {
  static std::mutex mu;
  static auto* all = new std::map<std::string, std::shared_ptr<SchemaRegistry>>();
  std::lock_guard lock(mu);
  std::shared_ptr<SchemaRegistry>& registry = (*all)[options.url];
  if (registry == nullptr) registry = std::make_shared<SchemaRegistry>(options);
  return registry;
}

SchemaRegistry::SchemaRegistry(RegistryOptions options) : options_(std::move(options)) {}

int64_t SchemaRegistry::fetches() const {
  std::lock_guard lock(mu_);
  return fetches_;
}

absl::StatusOr<std::shared_ptr<const Contract>> SchemaRegistry::Schema(int32_t id) {
  {
    std::lock_guard lock(mu_);
    auto it = known_.find(id);
    if (it != known_.end()) return it->second;
    ++fetches_;
  }
  // Fetched outside the lock: a slow registry must not hold the ids already known. Two threads
  // may fetch one id at once; both get the same answer.
  absl::StatusOr<std::shared_ptr<const Contract>> schema = Fetch(id);
  if (!absl::IsUnavailable(schema.status())) {
    std::lock_guard lock(mu_);
    known_.emplace(id, schema);
  }
  return schema;
}

absl::StatusOr<std::shared_ptr<const Contract>> SchemaRegistry::Fetch(int32_t id) {
  std::string base = options_.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string url = absl::StrCat(base, "/schemas/ids/", id);
  absl::StatusOr<HttpAnswer> answer = Get(url, options_);
  if (!answer.ok()) {
    return absl::UnavailableError(
        absl::StrCat("schema registry unreachable: ", answer.status().message()));
  }
  if (answer->status == 404) {
    return absl::NotFoundError(absl::StrCat("schema id ", id, " is not in the registry at ",
                                            options_.url, " (", Excerpt(answer->body), ")"));
  }
  if (answer->status != 200) {
    // 5xx, 429, refused credentials: the registry's problem or ours, not the record's.
    return absl::UnavailableError(absl::StrCat("schema registry answered ", answer->status, " for ",
                                               url, ": ", Excerpt(answer->body)));
  }
  rapidjson::Document doc;
  doc.Parse(answer->body.c_str(), answer->body.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("schema") ||
      !doc["schema"].IsString()) {
    return absl::UnavailableError(absl::StrCat(
        "schema registry answered ", url, " with no \"schema\" string: ", Excerpt(answer->body)));
  }
  // The registry leaves schemaType out for AVRO, its original format.
  std::string type = "AVRO";
  if (doc.HasMember("schemaType") && doc["schemaType"].IsString()) {
    type = doc["schemaType"].GetString();
  }
  if (type != "JSON") {
    return absl::InvalidArgumentError(absl::StrCat(
        "schema id ", id, " is ", type, ": only JSON Schema records are read (JSON payloads)"));
  }
  const rapidjson::Value& text = doc["schema"];
  absl::StatusOr<std::shared_ptr<const Contract>> contract =
      Contract::FromText(std::string_view(text.GetString(), text.GetStringLength()),
                         absl::StrCat("registry schema id ", id));
  if (!contract.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("schema id ", id, ": ", contract.status().message()));
  }
  return contract;
}

}  // namespace sv::contracts
