#include "source/kafka/kafka_client.h"

#include <chrono>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace sv::source::kafka_internal {
namespace {
// A replay that receives nothing for this long while partitions are unfinished has stalled.
constexpr int kReplayStallMs = 60'000;
}  // namespace

TopicPartitions NewPartitionList(int size) {
  return {rd_kafka_topic_partition_list_new(size), &rd_kafka_topic_partition_list_destroy};
}

int64_t TimestampMicros(const rd_kafka_message_t* m) {
  rd_kafka_timestamp_type_t type;
  const int64_t ms = rd_kafka_message_timestamp(m, &type);
  return ms < 0 ? 0 : ms * 1000;
}

// Fills `r` from a message, reusing the buffers `r` already has (a poll refills the records of
// the previous one: no allocation per record in the steady state).
void ToRecord(const rd_kafka_message_t* m, int32_t id, SourceRecord* r) {
  r->partition = id;
  r->offset = m->offset + 1;
  r->log_time_us = TimestampMicros(m);
  r->value.assign(static_cast<const char*>(m->payload), m->len);
  if (m->key != nullptr) {
    if (!r->key) r->key.emplace();
    r->key->assign(static_cast<const char*>(m->key), m->key_len);
    r->routing_key.assign(*r->key);
  } else {
    r->key.reset();
    r->routing_key.clear();
  }
  size_t n = 0;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers != nullptr) {
    const char* name;
    const void* value;
    size_t size;
    for (size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      if (n == r->headers.size()) r->headers.emplace_back();
      auto& [header_name, header_value] = r->headers[n++];
      header_name.assign(name);
      header_value.assign(value == nullptr ? "" : static_cast<const char*>(value),
                          value == nullptr ? 0 : size);
    }
  }
  r->headers.resize(n);
}

// A configuration with the user's properties applied over ours.
absl::StatusOr<rd_kafka_conf_t*> MakeConf(
    const KafkaSourceOptions& o, const std::vector<std::pair<std::string, std::string>>& ours) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  auto set = [&](const std::string& k, const std::string& v) -> absl::Status {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      return absl::InvalidArgumentError(
          absl::StrCat("source '", o.source_name, "': kafka property ", k, "=", v, ": ", err));
    }
    return absl::OkStatus();
  };
  absl::Status s = set("bootstrap.servers", o.brokers);
  for (const auto& [k, v] : ours) {
    if (s.ok()) s = set(k, v);
  }
  for (const auto& [k, v] : o.properties) {
    if (s.ok()) s = set(k, v);
  }
  if (!s.ok()) {
    rd_kafka_conf_destroy(conf);
    return s;
  }
  return conf;
}

absl::StatusOr<rd_kafka_t*> NewHandle(rd_kafka_type_t type, rd_kafka_conf_t* conf,
                                      const std::string& source) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));  // owns conf on success
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("source '", source, "': kafka: ", err));
  }
  return rk;
}

// Partition counts of `topics`, in order.
absl::StatusOr<std::vector<int>> PartitionCounts(rd_kafka_t* rk,
                                                 const std::vector<std::string>& topics,
                                                 const std::string& source) {
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &md, kMetadataTimeoutMs);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("source '", source, "': kafka metadata: ", rd_kafka_err2str(err)));
  }
  std::vector<int> counts;
  absl::Status status;
  for (const std::string& topic : topics) {
    int count = -1;
    for (int i = 0; i < md->topic_cnt; ++i) {
      if (topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        count = md->topics[i].partition_cnt;
      }
    }
    if (count < 0 && status.ok()) {
      status = absl::NotFoundError(
          absl::StrCat("source '", source, "': kafka topic '", topic, "' does not exist"));
    }
    counts.push_back(count);
  }
  rd_kafka_metadata_destroy(md);
  if (!status.ok()) return status;
  return counts;
}

// Reads every partition of the topics from its first retained offset up to fixed ends, with
// its own consumer outside the group (no rebalance, no offset commits).
class KafkaReplay : public ReplayReader {
 public:
  KafkaReplay(rd_kafka_t* rk, std::unordered_map<int32_t, int64_t> ends,
              std::unordered_map<std::string, int> topic_index)
      : handle_(rk),
        ends_(std::move(ends)),
        all_ends_(ends_.begin(), ends_.end()),
        topic_index_(std::move(topic_index)) {}

  std::map<int32_t, int64_t> Ends() const override { return all_ends_; }

  ~KafkaReplay() override { rd_kafka_consumer_close(handle_.rk); }

  absl::Status Next(size_t max, std::vector<SourceRecord>* out) override {
    out->clear();
    auto last_message = std::chrono::steady_clock::now();
    while (!ends_.empty() && out->size() < max) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(handle_.rk, out->empty() ? 100 : 0);
      if (m == nullptr) {
        if (!out->empty()) break;
        if (std::chrono::steady_clock::now() - last_message >
            std::chrono::milliseconds(kReplayStallMs)) {
          return absl::UnavailableError(absl::StrCat("kafka replay: no record for ",
                                                     kReplayStallMs / 1000, " s with ",
                                                     ends_.size(), " partitions unfinished"));
        }
        continue;
      }
      last_message = std::chrono::steady_clock::now();
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        const bool eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        std::string why = rd_kafka_message_errstr(m);
        rd_kafka_message_destroy(m);
        if (eof) continue;
        return absl::UnavailableError(absl::StrCat("kafka replay: ", why));
      }
      auto t = topic_index_.find(rd_kafka_topic_name(m->rkt));
      const int32_t id = t == topic_index_.end() ? -1 : KafkaPartitionId(t->second, m->partition);
      auto end = ends_.find(id);
      if (end != ends_.end() && m->offset + 1 <= end->second) {
        out->emplace_back();
        ToRecord(m, id, &out->back());
        if (m->offset + 1 >= end->second) ends_.erase(end);
      }
      rd_kafka_message_destroy(m);
    }
    return absl::OkStatus();
  }

 private:
  KafkaHandle handle_;
  std::unordered_map<int32_t, int64_t> ends_;  // unfinished partitions -> last position
  std::map<int32_t, int64_t> all_ends_;
  std::unordered_map<std::string, int> topic_index_;
};

std::unique_ptr<ReplayReader> NewKafkaReplay(rd_kafka_t* rk,
                                             std::unordered_map<int32_t, int64_t> ends,
                                             std::unordered_map<std::string, int> topic_index) {
  return std::make_unique<KafkaReplay>(rk, std::move(ends), std::move(topic_index));
}

}  // namespace sv::source::kafka_internal
