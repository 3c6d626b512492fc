#include "source/kafka/kafka_source.h"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "rapidjson/document.h"
#include "source/kafka/kafka_client.h"

namespace sv::source {
namespace {

using kafka_internal::KafkaHandle;
using kafka_internal::kMaxTopics;
using kafka_internal::kMetadataTimeoutMs;
using kafka_internal::kPartitionMask;
using kafka_internal::MakeConf;
using kafka_internal::NewHandle;
using kafka_internal::NewKafkaReplay;
using kafka_internal::NewPartitionList;
using kafka_internal::PartitionCounts;
using kafka_internal::ToRecord;

class KafkaSource : public Source {
 public:
  explicit KafkaSource(KafkaSourceOptions options) : options_(std::move(options)) {
    for (size_t i = 0; i < options_.topics.size(); ++i) {
      topic_index_[options_.topics[i]] = static_cast<int>(i);
    }
  }

  ~KafkaSource() override {
    // Leaving the group revokes the partitions; the engine may be tearing down (or discarding a
    // failed batch), so the revoke must not call back into it.
    hooks_ = RebalanceHooks();
    if (consumer_.rk != nullptr && subscribed_) rd_kafka_consumer_close(consumer_.rk);
    if (producer_.rk != nullptr) rd_kafka_flush(producer_.rk, 5'000);
    // Destroying a handle may still serve callbacks (statistics) into this object: do it while
    // every member is alive.
    consumer_.Reset();
    producer_.Reset();
  }

  absl::Status Init() {
    if (options_.topics.empty() || options_.topics.size() > kMaxTopics) {
      return absl::InvalidArgumentError(
          absl::StrCat("source '", options_.source_name, "': 1 to ", kMaxTopics, " topics"));
    }
    for (const auto& [k, v] : options_.properties) {
      if (k == "partition.assignment.strategy" && v.find("cooperative") != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            "source '", options_.source_name,
            "': cooperative rebalancing is not supported (the engine commits the batch in hand "
            "on every revoke); use range or roundrobin"));
      }
    }
    SV_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf, ConsumerConf(options_.group_id));
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_rebalance_cb(conf, &KafkaSource::RebalanceCb);
    rd_kafka_conf_set_error_cb(conf, &KafkaSource::ErrorCb);
    rd_kafka_conf_set_stats_cb(conf, &KafkaSource::StatsCb);
    SV_ASSIGN_OR_RETURN(consumer_.rk, NewHandle(RD_KAFKA_CONSUMER, conf, options_.source_name));
    rd_kafka_poll_set_consumer(consumer_.rk);
    return absl::OkStatus();
  }

  absl::Status Seek(const std::map<int32_t, int64_t>& after) override {
    after_ = after;
    return absl::OkStatus();
  }

  void SetRebalanceHooks(const RebalanceHooks& hooks) override { hooks_ = hooks; }

  // Joins the group on the first poll, so a process that only rebuilds never takes partitions.
  absl::Status Poll(size_t max, int timeout_ms, std::vector<SourceRecord>* out) override {
    size_t& n = polled_;  // records filled; the ones after them keep their buffers for reuse
    n = 0;
    revoke_cut_ = 0;
    absl::Cleanup trim = [&] { out->resize(n); };
    if (!subscribed_) {
      auto topics = NewPartitionList(static_cast<int>(options_.topics.size()));
      for (const std::string& t : options_.topics) {
        rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
      }
      const rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_.rk, topics.get());
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return absl::UnavailableError(absl::StrCat("source '", options_.source_name,
                                                   "': subscribe: ", rd_kafka_err2str(err)));
      }
      subscribed_ = true;
    }
    out->reserve(max);
    int wait_ms = timeout_ms;
    while (n < max) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_.rk, wait_ms);
      wait_ms = 0;
      if (!hook_status_.ok()) {
        // A revoke or assign could not reach the store: the engine discards its state and
        // restarts the source.
        if (m != nullptr) rd_kafka_message_destroy(m);
        absl::Status s = std::move(hook_status_);
        hook_status_ = absl::OkStatus();
        return s;
      }
      if (m == nullptr) break;
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        const rd_kafka_resp_err_t err = m->err;
        std::string why = rd_kafka_message_errstr(m);
        const std::string where = m->rkt == nullptr ? std::string("?") : PartitionLabel(IdOf(m));
        rd_kafka_message_destroy(m);
        if (err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
            err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
          return absl::DataLossError(absl::StrCat(
              "source '", options_.source_name, "': ", where,
              ": the next record to apply is no longer retained by the topic (", why,
              "): retention deleted records before they were applied. `streamview rebuild "
              "--all --allow-partial` starts over from what is retained"));
        }
        if (err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          LogJson("warn", "kafka consume error",
                  {{"source", options_.source_name}, {"error", why}});
        }
        continue;
      }
      const int32_t id = IdOf(m);
      if (id >= 0 && assigned_.contains(id)) {
        absl::Status gap = CheckContinuity(id, m);
        if (!gap.ok()) {
          rd_kafka_message_destroy(m);
          return gap;
        }
        if (n == out->size()) out->emplace_back();
        ToRecord(m, id, &(*out)[n++]);
      }
      rd_kafka_message_destroy(m);
    }
    std::move(trim).Invoke();
    if (!revoked_.empty()) {
      // Records fetched before a revoke are the next owner's now, even when that is this
      // consumer again: an assignment seeks to the stored positions, which fetches them anew.
      out->erase(out->begin(), out->begin() + static_cast<std::ptrdiff_t>(revoke_cut_));
      std::erase_if(*out, [&](const SourceRecord& r) { return !assigned_.contains(r.partition); });
      revoked_.clear();
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::map<int32_t, int64_t>> EndOffsets() override {
    if (assigned_.empty()) {
      return absl::UnavailableError(
          absl::StrCat("source '", options_.source_name, "': no partitions assigned yet"));
    }
    std::map<int32_t, int64_t> ends;
    for (int32_t id : assigned_) {
      int64_t low = 0, high = 0;
      const std::string& topic = options_.topics[id >> kKafkaPartitionBits];
      if (rd_kafka_get_watermark_offsets(consumer_.rk, topic.c_str(), id & kPartitionMask, &low,
                                         &high) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          high >= 0) {
        ends[id] = high;  // next offset to be written = position of the last record
      } else {
        return absl::UnavailableError(absl::StrCat("source '", options_.source_name, "': end of ",
                                                   PartitionLabel(id), " not known yet"));
      }
    }
    return ends;
  }

  absl::StatusOr<std::unique_ptr<ReplayReader>> OpenReplay(
      const std::optional<std::map<int32_t, int64_t>>& until, bool allow_partial) override {
    SV_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf,
                        ConsumerConf(absl::StrCat(options_.group_id, ".rebuild")));
    SV_ASSIGN_OR_RETURN(rd_kafka_t * rk, NewHandle(RD_KAFKA_CONSUMER, conf, options_.source_name));
    rd_kafka_poll_set_consumer(rk);
    auto replay_guard = std::make_unique<KafkaHandle>(rk);
    SV_ASSIGN_OR_RETURN(std::vector<int> counts,
                        PartitionCounts(rk, options_.topics, options_.source_name));
    std::unordered_map<int32_t, int64_t> ends;
    auto assignment = NewPartitionList(8);
    for (size_t t = 0; t < options_.topics.size(); ++t) {
      for (int p = 0; p < counts[t]; ++p) {
        const int32_t id = KafkaPartitionId(static_cast<int>(t), p);
        int64_t low = 0, high = 0;
        const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            rk, options_.topics[t].c_str(), p, &low, &high, kMetadataTimeoutMs);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          return absl::UnavailableError(absl::StrCat("source '", options_.source_name,
                                                     "': watermarks of ", options_.topics[t], "/",
                                                     p, ": ", rd_kafka_err2str(err)));
        }
        int64_t end = high;
        if (until.has_value()) {
          auto it = until->find(id);
          end = it == until->end() ? 0 : std::min(it->second, high);
        }
        if (low > 0 && end > 0 && !allow_partial) {
          return absl::FailedPreconditionError(absl::StrCat(
              "source '", options_.source_name, "': topic ", options_.topics[t], " partition ", p,
              " now starts at offset ", low, ": retention dropped ", low,
              " records the views were built from, so a rebuild would silently build partial "
              "views. Raise the topic's retention, or pass --allow-partial to rebuild from what "
              "is retained"));
        }
        if (end <= low) continue;
        ends[id] = end;
        rd_kafka_topic_partition_list_add(assignment.get(), options_.topics[t].c_str(), p)->offset =
            low;
      }
    }
    const rd_kafka_resp_err_t err = rd_kafka_assign(rk, assignment.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(
          absl::StrCat("source '", options_.source_name, "': assign: ", rd_kafka_err2str(err)));
    }
    replay_guard->rk = nullptr;
    return NewKafkaReplay(rk, std::move(ends), topic_index_);
  }

  void AfterCommit(const std::map<int32_t, int64_t>& positions,
                   const std::vector<store::DeadLetter>& dead_letters) override {
    auto offsets = NewPartitionList(static_cast<int>(positions.size()));
    for (const auto& [id, position] : positions) {
      if (!assigned_.contains(id)) continue;
      rd_kafka_topic_partition_list_add(
          offsets.get(), options_.topics[id >> kKafkaPartitionBits].c_str(), id & kPartitionMask)
          ->offset = position;
    }
    if (offsets->cnt > 0) rd_kafka_commit(consumer_.rk, offsets.get(), 1);
    if (options_.dead_letter_topic && !dead_letters.empty()) ProduceDeadLetters(dead_letters);
    if (producer_.rk != nullptr) rd_kafka_poll(producer_.rk, 0);
  }

  bool MirrorsDeadLetters() const override { return options_.dead_letter_topic; }

  std::vector<int64_t> TakeMirroredDeadLetters(int wait_ms) override {
    if (producer_.rk == nullptr) return {};
    // Delivery reports are served here, on the engine's thread.
    if (wait_ms > 0) {
      rd_kafka_flush(producer_.rk, wait_ms);
    } else {
      rd_kafka_poll(producer_.rk, 0);
    }
    return std::exchange(confirmed_, {});
  }

  bool Connected(std::string* why) const override {
    std::lock_guard lock(mu_);
    if (!connected_ && why != nullptr) *why = disconnect_reason_;
    return connected_;
  }

  std::string PartitionLabel(int32_t id) const override {
    return KafkaPartitionLabel(options_.topics, id);
  }

 private:
  absl::StatusOr<rd_kafka_conf_t*> ConsumerConf(const std::string& group) const {
    return MakeConf(options_, {{"group.id", group},
                               {"enable.auto.commit", "false"},
                               {"enable.auto.offset.store", "false"},
                               {"enable.partition.eof", "false"},
                               // A stored position that is no longer retained is data
                               // loss: fail loudly instead of silently skipping ahead.
                               {"auto.offset.reset", "error"},
                               {"fetch.wait.max.ms", "2"},
                               // Broker states for readiness (StatsCb), once a second.
                               {"statistics.interval.ms", "1000"},
                               {"client.id", absl::StrCat("streamview-", options_.source_name)}});
  }

  int32_t IdOf(const rd_kafka_message_t* m) const {
    auto t = topic_index_.find(rd_kafka_topic_name(m->rkt));
    return t == topic_index_.end() ? -1 : KafkaPartitionId(t->second, m->partition);
  }

  // Offsets may skip (transaction markers, compaction), but a skip past where the partition
  // now starts means retention deleted records before they were applied: that is data loss,
  // never a silent jump.
  absl::Status CheckContinuity(int32_t id, const rd_kafka_message_t* m) {
    auto it = next_offset_.find(id);
    if (it != next_offset_.end() && m->offset > it->second) {
      int64_t low = -1, high = -1;
      const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
          consumer_.rk, rd_kafka_topic_name(m->rkt), m->partition, &low, &high, kMetadataTimeoutMs);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // Unverified, the skip could hide lost records: fail the batch and read it again.
        return absl::UnavailableError(
            absl::StrCat("source '", options_.source_name, "': ", PartitionLabel(id), ": offset ",
                         m->offset, " follows ", it->second - 1,
                         " and the partition's start could not be read to rule "
                         "out data loss: ",
                         rd_kafka_err2str(err)));
      }
      if (low > it->second) {
        return absl::DataLossError(
            absl::StrCat("source '", options_.source_name, "': ", PartitionLabel(id),
                         ": expected offset ", it->second, " but the partition now starts at ", low,
                         ": retention deleted ", low - it->second,
                         " records before they were applied. `streamview rebuild --all "
                         "--allow-partial` starts over from what is retained"));
      }
    }
    next_offset_[id] = m->offset + 1;
    return absl::OkStatus();
  }

  void SetConnected(bool connected, const std::string& why) {
    std::lock_guard lock(mu_);
    connected_ = connected;
    disconnect_reason_ = why;
  }

  static void ErrorCb(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaSource*>(opaque);
    LogJson("warn", "kafka error", {{"source", self->options_.source_name}, {"error", reason}});
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->SetConnected(false, reason);
  }

  // librdkafka's statistics name every broker connection and its state: the source is
  // connected while at least one real broker (not a bootstrap alias) is UP.
  static int StatsCb(rd_kafka_t* /*rk*/, char* json, size_t len, void* opaque) {
    auto* self = static_cast<KafkaSource*>(opaque);
    rapidjson::Document doc;
    doc.Parse(json, len);
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("brokers") ||
        !doc["brokers"].IsObject()) {
      return 0;
    }
    bool up = false;
    std::vector<std::string> states;
    const rapidjson::Value& brokers = doc["brokers"];
    // By index: rapidjson's member iterators compare ambiguously under C++20 (clang).
    for (rapidjson::SizeType i = 0; i < brokers.MemberCount(); ++i) {
      const auto& b = *(brokers.MemberBegin() + i);
      if (!b.value.IsObject() || !b.value.HasMember("nodeid") || !b.value.HasMember("state") ||
          !b.value["nodeid"].IsInt() || b.value["nodeid"].GetInt() < 0 ||
          !b.value["state"].IsString()) {
        continue;
      }
      const std::string state = b.value["state"].GetString();
      up |= state == "UP";
      states.push_back(absl::StrCat(b.name.GetString(), " ", state));
    }
    if (states.empty()) {
      self->SetConnected(false, "no brokers reached yet (bootstrap servers unreachable?)");
    } else {
      self->SetConnected(
          up, up ? "" : absl::StrCat("all brokers down (", absl::StrJoin(states, ", "), ")"));
    }
    return 0;  // librdkafka frees `json`
  }

  static void RebalanceCb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<KafkaSource*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->OnAssign(rk, parts);
    } else {
      self->OnRevoke(rk);
    }
  }

  void OnAssign(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts) {
    std::vector<int32_t> ids;
    for (int i = 0; i < parts->cnt; ++i) {
      auto t = topic_index_.find(parts->elems[i].topic);
      if (t != topic_index_.end())
        ids.push_back(KafkaPartitionId(t->second, parts->elems[i].partition));
    }
    std::map<int32_t, int64_t> positions = after_;
    if (hooks_.on_assign) {
      auto loaded = hooks_.on_assign(ids);
      if (!loaded.ok()) {
        // Without the stored positions no offset is safe: take nothing until restarted.
        hook_status_ = loaded.status();
        Assign(rk, nullptr);
        return;
      }
      positions = *std::move(loaded);
    }
    assigned_.clear();
    for (int i = 0; i < parts->cnt; ++i) {
      auto t = topic_index_.find(parts->elems[i].topic);
      if (t == topic_index_.end()) continue;
      const int32_t id = KafkaPartitionId(t->second, parts->elems[i].partition);
      auto it = positions.find(id);
      // Nothing stored: offset 0, not "the beginning", which is wherever retention left it; if
      // offset 0 is gone the consumer fails loudly (auto.offset.reset=error) instead of
      // silently building views that miss the deleted records.
      const int64_t next = it == positions.end() ? 0 : it->second;
      parts->elems[i].offset = next;
      next_offset_[id] = next;
      assigned_.insert(id);
    }
    LogJson("info", "kafka partitions assigned",
            {{"source", options_.source_name}, {"partitions", std::to_string(parts->cnt)}});
    Assign(rk, parts);
  }

  // An assignment librdkafka refused leaves the consumer without the partitions it was given
  // (or still fetching revoked ones): fail the next poll so the engine starts over.
  void Assign(rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* parts) {
    const rd_kafka_resp_err_t err = rd_kafka_assign(rk, parts);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    LogJson("error", "kafka assign failed",
            {{"source", options_.source_name}, {"error", rd_kafka_err2str(err)}});
    if (hook_status_.ok()) {
      hook_status_ = absl::UnavailableError(
          absl::StrCat("source '", options_.source_name, "': assign: ", rd_kafka_err2str(err)));
    }
  }

  void OnRevoke(rd_kafka_t* rk) {
    // The batch in hand holds records of these partitions: commit it before they go.
    if (hooks_.before_revoke) {
      absl::Status s = hooks_.before_revoke();
      if (!s.ok()) hook_status_ = s;
    }
    revoked_.insert(assigned_.begin(), assigned_.end());
    revoke_cut_ = polled_;
    assigned_.clear();
    LogJson("info", "kafka partitions revoked", {{"source", options_.source_name}});
    Assign(rk, nullptr);
  }

  void ProduceDeadLetters(const std::vector<store::DeadLetter>& dead_letters) {
    if (producer_.rk == nullptr) {
      auto conf = MakeConf(options_, {{"linger.ms", "5"}});
      if (!conf.ok()) return;
      rd_kafka_conf_set_opaque(*conf, this);
      rd_kafka_conf_set_dr_msg_cb(*conf, &KafkaSource::DeliveryCb);
      auto rk = NewHandle(RD_KAFKA_PRODUCER, *conf, options_.source_name);
      if (!rk.ok()) {
        LogJson("error", "kafka dead-letter producer", {{"error", rk.status().ToString()}});
        return;
      }
      producer_.rk = *rk;
    }
    for (const store::DeadLetter& dl : dead_letters) {
      const size_t t = static_cast<size_t>(dl.partition >> kKafkaPartitionBits);
      const std::string topic =
          absl::StrCat(t < options_.topics.size() ? options_.topics[t] : "unknown", ".dlq");
      const std::string partition = std::to_string(dl.partition & kPartitionMask);
      const std::string offset = std::to_string(dl.position - 1);
      const std::string id = std::to_string(dl.id);  // consumers dedupe copies by it
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          producer_.rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(dl.key.data(), dl.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(dl.raw.data()), dl.raw.size()),
          RD_KAFKA_V_HEADER("x-dlq-reason", dl.reason.data(), dl.reason.size()),
          RD_KAFKA_V_HEADER("x-dlq-source", options_.source_name.data(),
                            options_.source_name.size()),
          RD_KAFKA_V_HEADER("x-dlq-partition", partition.data(), partition.size()),
          RD_KAFKA_V_HEADER("x-dlq-offset", offset.data(), offset.size()),
          RD_KAFKA_V_HEADER("x-dlq-id", id.data(), id.size()),
          // The message opaque carries the dead letter's id to the delivery report.
          // NOLINTNEXTLINE(performance-no-int-to-ptr)
          RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<intptr_t>(dl.id))), RD_KAFKA_V_END);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // The dead letter is in the store already; its outbox entry has the copy sent again
        // when the partition is next assigned.
        LogJson("warn", "kafka dead-letter produce",
                {{"topic", topic}, {"error", rd_kafka_err2str(err)}});
      }
    }
  }

  // A dead-letter copy's delivery report: a confirmed one leaves the store's outbox; a failed
  // one stays there and is sent again when the partition is next assigned.
  static void DeliveryCb(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaSource*>(opaque);
    const int64_t id = static_cast<int64_t>(reinterpret_cast<intptr_t>(m->_private));
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      self->confirmed_.push_back(id);
    } else {
      LogJson("warn", "kafka dead-letter delivery",
              {{"dead_letter", std::to_string(id)}, {"error", rd_kafka_err2str(m->err)}});
    }
  }

  KafkaSourceOptions options_;
  std::unordered_map<std::string, int> topic_index_;
  KafkaHandle consumer_;
  KafkaHandle producer_;            // dead-letter topic, created on first use
  std::vector<int64_t> confirmed_;  // dead letters whose copies the topic confirmed
  bool subscribed_ = false;
  RebalanceHooks hooks_;
  std::map<int32_t, int64_t> after_;  // positions from Seek (used when no hook is set)
  std::set<int32_t> assigned_;
  std::unordered_map<int32_t, int64_t> next_offset_;  // per assigned partition
  std::set<int32_t> revoked_;                         // revoked during the current Poll
  size_t polled_ = 0;                                 // records the current Poll has filled so far
  size_t revoke_cut_ = 0;  // ... of which these came before its last revoke
  absl::Status hook_status_;
  mutable std::mutex mu_;  // connected_ is read from other threads
  bool connected_ = true;
  std::string disconnect_reason_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Source>> NewKafkaSource(const KafkaSourceOptions& options) {
  auto source = std::make_unique<KafkaSource>(options);
  absl::Status s = source->Init();
  if (!s.ok()) return s;
  return source;
}

}  // namespace sv::source
