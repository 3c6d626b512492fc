// Test and benchmark helper around librdkafka:
//   kafka_tool mock --topic T --partitions N [--brokers 3]
//       hosts librdkafka's mock cluster (the real Kafka protocol on loopback), prints
//       "bootstrap <host:port,...>" and serves commands on stdin until EOF:
//       "down <broker id>", "up <broker id>", "topic <name> <partitions>".
//   kafka_tool produce --bootstrap B --topic T FILE [--rate N] [--max-lag N --group G]
//       produces NDJSON lines: an envelope {"key","headers","value"} becomes a message with that
//       key and headers; any other line is sent as it is, keyed by its --key-field (default
//       orderId) when it has one. An envelope may also carry "confluent_schema_id": N (the
//       value is sent Confluent-framed: magic byte 0, N in 4 bytes big-endian, the JSON) or
//       "value_hex" (the value's bytes, for malformed frames). --max-lag throttles the
//       producer by the group's lag (the mock keeps only a few MiB per partition). Prints
//       {"produced":N,"seconds":S,"last_offsets":{"<partition>":<last offset delivered>,...}}.
//   kafka_tool count --bootstrap B --topic T
//       prints how many records the topic holds (high minus low watermark, all partitions).
//   kafka_tool header --bootstrap B --topic T --name H
//       prints header H of every record the topic holds, one a line ("-" when absent).
//   kafka_tool bare --bootstrap B --topic T --expect N [--group G]
//       a bare consume loop (assign all partitions from the beginning, offsets committed for
//       the group every 100 ms), prints records/s from its first record.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace {

std::map<std::string, std::string> Flags(int argc, char** argv, int from,
                                         std::vector<std::string>* positional) {
  std::map<std::string, std::string> flags;
  for (int i = from; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0 && i + 1 < argc) {
      flags[a.substr(2)] = argv[++i];
    } else {
      positional->push_back(a);
    }
  }
  return flags;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "kafka_tool: %s\n", what.c_str());
  std::exit(1);
}

// The last offset delivered to each partition by `produce` (reported for read-your-writes).
std::map<int32_t, int64_t> g_delivered;

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  int64_t& last = g_delivered[m->partition];
  if (m->offset > last) last = m->offset;
}

rd_kafka_t* NewClient(rd_kafka_type_t type,
                      const std::vector<std::pair<std::string, std::string>>& props,
                      bool report_deliveries = false) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (report_deliveries) rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      Die(k + ": " + err);
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (rk == nullptr) Die(err);
  return rk;
}

int Mock(const std::map<std::string, std::string>& flags) {
  const int brokers = flags.count("brokers") ? std::stoi(flags.at("brokers")) : 3;
  rd_kafka_t* rk = NewClient(RD_KAFKA_PRODUCER, {{"log_level", "3"}});
  rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (mc == nullptr) Die("cannot create the mock cluster");
  if (flags.count("topic")) {
    const int partitions = flags.count("partitions") ? std::stoi(flags.at("partitions")) : 4;
    if (rd_kafka_mock_topic_create(mc, flags.at("topic").c_str(), partitions, 1) != 0) {
      Die("cannot create topic");
    }
  }
  std::printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd == "down" || cmd == "up") {
      int32_t id = 0;
      in >> id;
      const rd_kafka_resp_err_t e = cmd == "down" ? rd_kafka_mock_broker_set_down(mc, id)
                                                  : rd_kafka_mock_broker_set_up(mc, id);
      std::printf("%s %d: %s\n", cmd.c_str(), id, rd_kafka_err2str(e));
    } else if (cmd == "topic") {
      std::string name;
      int partitions = 1;
      in >> name >> partitions;
      std::printf("topic %s: %d\n", name.c_str(),
                  rd_kafka_mock_topic_create(mc, name.c_str(), partitions, 1));
    } else if (!cmd.empty()) {
      std::printf("unknown command %s\n", cmd.c_str());
    }
    std::fflush(stdout);
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}

// The group's total lag on `topic` (high watermark minus committed offset, all partitions).
int64_t GroupLag(rd_kafka_t* admin_consumer, const std::string& topic, int partitions) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  // Unknown (the coordinator did not answer) counts as too much: never outrun retention.
  int64_t lag = std::numeric_limits<int64_t>::max();
  if (rd_kafka_committed(admin_consumer, list, 5'000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    lag = 0;
    for (int i = 0; i < list->cnt; ++i) {
      int64_t low = 0, high = 0;
      rd_kafka_query_watermark_offsets(admin_consumer, topic.c_str(), list->elems[i].partition,
                                       &low, &high, 5'000);
      // Nothing committed yet (the consumer is still joining): everything is lag.
      (void)low;
      const int64_t committed = list->elems[i].offset < 0 ? 0 : list->elems[i].offset;
      lag += high - committed;
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
  return lag;
}

int PartitionCount(rd_kafka_t* rk, const std::string& topic) {
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  int n = 0;
  if (rd_kafka_metadata(rk, 0, t, &md, 10'000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (md->topic_cnt == 1) n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
  }
  rd_kafka_topic_destroy(t);
  return n;
}

// One message as the producer sends it, encoded before sending starts: the JSON work of a
// benchmark's load generator must not compete for the cores with the consumer it measures.
struct Message {
  std::optional<std::string> key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

Message Encode(const std::string& line, const std::string& key_field, rapidjson::Document& doc) {
  Message m;
  m.value = line;
  doc.Parse(line.c_str(), line.size());
  if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("value") && doc.HasMember("key") &&
      doc["key"].IsString()) {
    m.key = doc["key"].GetString();
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    doc["value"].Accept(w);
    m.value.assign(buf.GetString(), buf.GetSize());
    if (doc.HasMember("confluent_schema_id") && doc["confluent_schema_id"].IsUint()) {
      const uint32_t id = doc["confluent_schema_id"].GetUint();
      const char frame[5] = {0, static_cast<char>(id >> 24), static_cast<char>(id >> 16),
                             static_cast<char>(id >> 8), static_cast<char>(id)};
      m.value.insert(0, frame, sizeof frame);
    }
    if (doc.HasMember("value_hex") && doc["value_hex"].IsString()) {
      const std::string hex = doc["value_hex"].GetString();
      m.value.clear();
      for (size_t i = 0; i + 1 < hex.size(); i += 2) {
        m.value.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
      }
    }
    if (doc.HasMember("headers") && doc["headers"].IsObject()) {
      const rapidjson::Value& all = doc["headers"];
      // By index: rapidjson's member iterators compare ambiguously under C++20 (clang).
      for (rapidjson::SizeType i = 0; i < all.MemberCount(); ++i) {
        const auto& h = *(all.MemberBegin() + i);
        if (!h.value.IsString()) continue;
        m.headers.emplace_back(h.name.GetString(),
                               std::string(h.value.GetString(), h.value.GetStringLength()));
      }
    }
  } else if (!doc.HasParseError() && doc.IsObject() && doc.HasMember(key_field.c_str()) &&
             doc[key_field.c_str()].IsString()) {
    // A bare event: keyed by its key field, as a real producer would, so that all events
    // of a key share a partition.
    m.key = doc[key_field.c_str()].GetString();
  }
  return m;
}

int Produce(const std::map<std::string, std::string>& flags, const std::string& file) {
  const std::string topic = flags.at("topic");
  const std::string key_field = flags.count("key-field") ? flags.at("key-field") : "orderId";
  std::ifstream in(file);
  if (!in) Die("cannot open " + file);
  std::vector<Message> messages;
  {
    std::string line;
    rapidjson::Document doc;
    while (std::getline(in, line)) messages.push_back(Encode(line, key_field, doc));
  }
  // For harnesses that start the consumer only once the producer is about to send.
  std::fprintf(stderr, "encoded %zu messages\n", messages.size());
  // The client starts after the encoding: one left idle meanwhile delays its first sends by
  // ~0.5 s on the mock cluster (seen as a latency spike at the start of a steady run).
  rd_kafka_t* rk = NewClient(RD_KAFKA_PRODUCER,
                             {{"bootstrap.servers", flags.at("bootstrap")},
                              {"linger.ms", "5"},
                              {"batch.num.messages", "10000"},
                              {"queue.buffering.max.messages", "1000000"},
                              {"enable.idempotence", "true"}},
                             /*report_deliveries=*/true);
  const int64_t rate = flags.count("rate") ? std::stoll(flags.at("rate")) : 0;
  const int64_t max_lag = flags.count("max-lag") ? std::stoll(flags.at("max-lag")) : 0;
  rd_kafka_t* lag_client = nullptr;
  int partitions = 0;
  if (max_lag > 0) {
    lag_client = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", flags.at("bootstrap")},
                                               {"group.id", flags.at("group")}});
    partitions = PartitionCount(lag_client, topic);
  }
  int64_t sent = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const Message& m : messages) {
    rd_kafka_headers_t* headers = rd_kafka_headers_new(m.headers.size());
    for (const auto& [name, value] : m.headers) {
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
    const void* key = m.key ? m.key->data() : nullptr;
    const size_t key_size = m.key ? m.key->size() : 0;
    while (true) {
      // No copy: `messages` outlives every delivery (flushed below).
      const rd_kafka_resp_err_t err =
          rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(0),
                            RD_KAFKA_V_KEY(key, key_size),
                            RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()),
                            RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) Die(rd_kafka_err2str(err));
      rd_kafka_poll(rk, 10);
    }
    ++sent;
    if (sent % 1000 == 0) rd_kafka_poll(rk, 0);
    if (rate > 0) {
      const auto due = start + std::chrono::microseconds(sent * 1'000'000 / rate);
      if (due > std::chrono::steady_clock::now()) std::this_thread::sleep_until(due);
    }
    if (max_lag > 0 && sent % 5'000 == 0) {
      // Messages still queued in this producer count too: they reach the broker soon.
      while (GroupLag(lag_client, topic, partitions) + rd_kafka_outq_len(rk) > max_lag) {
        rd_kafka_poll(rk, 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
  if (rd_kafka_flush(rk, 60'000) != RD_KAFKA_RESP_ERR_NO_ERROR) Die("flush timed out");
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string last_offsets;
  for (const auto& [partition, offset] : g_delivered) {
    last_offsets += (last_offsets.empty() ? "\"" : ",\"") + std::to_string(partition) +
                    "\":" + std::to_string(offset);
  }
  std::printf("{\"produced\":%lld,\"seconds\":%.3f,\"last_offsets\":{%s}}\n",
              static_cast<long long>(sent), secs, last_offsets.c_str());
  if (lag_client != nullptr) rd_kafka_destroy(lag_client);
  rd_kafka_destroy(rk);
  return 0;
}

int Count(const std::map<std::string, std::string>& flags) {
  const std::string topic = flags.at("topic");
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", flags.at("bootstrap")},
                                                 {"group.id", "kafka-tool-count"}});
  const int partitions = PartitionCount(rk, topic);
  int64_t total = 0;
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 10'000) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      total += high - low;
    }
  }
  std::printf("%lld\n", static_cast<long long>(total));
  rd_kafka_destroy(rk);
  return 0;
}

int Header(const std::map<std::string, std::string>& flags) {
  const std::string topic = flags.at("topic");
  const std::string name = flags.at("name");
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", flags.at("bootstrap")},
                                                 {"group.id", "kafka-tool-header"},
                                                 {"enable.auto.commit", "false"}});
  rd_kafka_poll_set_consumer(rk);
  const int partitions = PartitionCount(rk, topic);
  // Everything up to the high watermarks as they are now.
  std::map<int32_t, int64_t> ends;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 10'000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      Die("watermarks of " + topic);
    }
    if (high <= low) continue;
    ends[p] = high;
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = low;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!ends.empty()) {
    if (std::chrono::steady_clock::now() > deadline) Die("header: the topic was not read in 120 s");
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 1000);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_headers_t* headers = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          rd_kafka_header_get_last(headers, name.c_str(), &value, &size) ==
              RD_KAFKA_RESP_ERR_NO_ERROR &&
          value != nullptr) {
        std::printf("%.*s\n", static_cast<int>(size), static_cast<const char*>(value));
      } else {
        std::printf("-\n");
      }
      auto end = ends.find(m->partition);
      if (end != ends.end() && m->offset + 1 >= end->second) ends.erase(end);
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return 0;
}

int Bare(const std::map<std::string, std::string>& flags) {
  const std::string topic = flags.at("topic");
  const int64_t expect = std::stoll(flags.at("expect"));
  // Offsets are committed often so that `produce --max-lag --group` can pace the producer.
  const std::string group = flags.count("group") ? flags.at("group") : "kafka-tool-bare";
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", flags.at("bootstrap")},
                                                 {"group.id", group},
                                                 {"enable.auto.commit", "true"},
                                                 {"auto.commit.interval.ms", "100"},
                                                 {"fetch.wait.max.ms", "10"}});
  rd_kafka_poll_set_consumer(rk);
  const int partitions = PartitionCount(rk, topic);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  int64_t got = 0;
  std::chrono::steady_clock::time_point start;
  while (got < expect) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 1000);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (got == 0) start = std::chrono::steady_clock::now();
      ++got;
    }
    rd_kafka_message_destroy(m);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"records\":%lld,\"seconds\":%.3f,\"records_per_second\":%.0f}\n",
              static_cast<long long>(got), secs, got / std::max(secs, 1e-9));
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) Die("usage: kafka_tool mock|produce|count|header|bare ...");
  std::vector<std::string> positional;
  const auto flags = Flags(argc, argv, 2, &positional);
  const std::string cmd = argv[1];
  try {
    if (cmd == "mock") return Mock(flags);
    if (cmd == "produce") {
      if (positional.empty()) Die("produce: give a file");
      return Produce(flags, positional[0]);
    }
    if (cmd == "count") return Count(flags);
    if (cmd == "bare") return Bare(flags);
    if (cmd == "header") return Header(flags);
  } catch (const std::out_of_range&) {
    Die("missing a required flag");
  }
  Die("unknown command " + cmd);
}
