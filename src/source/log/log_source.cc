#include "source/log/log_source.h"

#include <chrono>
#include <thread>

namespace sv::source {
namespace {

// Scans the log table from the start up to a position.
class LogReplay : public ReplayReader {
 public:
  LogReplay(store::LogStore* store, int64_t end) : store_(store), end_(end) {}

  absl::Status Next(size_t max, std::vector<SourceRecord>* out) override {
    out->clear();
    if (after_ >= end_) return absl::OkStatus();
    absl::Status s = store_->ReadLog(after_, max, &page_);
    if (!s.ok()) return s;
    out->reserve(page_.size());
    for (store::LogRecord& lr : page_) {
      if (lr.position > end_) break;
      SourceRecord r;
      r.offset = lr.position;
      r.log_time_us = lr.log_time_us;
      r.value = std::move(lr.raw);
      r.routing_key = std::move(lr.key);
      out->push_back(std::move(r));
    }
    after_ = out->empty() ? end_ : out->back().offset;
    return absl::OkStatus();
  }

  std::map<int32_t, int64_t> Ends() const override { return {{0, end_}}; }

 private:
  store::LogStore* store_;
  int64_t end_;
  int64_t after_ = 0;
  std::vector<store::LogRecord> page_;
};

class LogSource : public Source {
 public:
  explicit LogSource(store::LogStore* store) : store_(store) {}

  absl::Status Seek(const std::map<int32_t, int64_t>& after) override {
    auto it = after.find(0);
    next_after_ = it == after.end() ? 0 : it->second;
    return absl::OkStatus();
  }

  absl::Status Poll(size_t max, int timeout_ms, std::vector<SourceRecord>* out) override {
    out->clear();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      absl::Status s = store_->ReadLog(next_after_, max, &buffer_);
      if (!s.ok()) return s;
      const auto now = std::chrono::steady_clock::now();
      if (!buffer_.empty() || now >= deadline) break;
      // Until an append (PostgreSQL: its NOTIFY), not a read every half millisecond.
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
      absl::StatusOr<bool> waited = store_->WaitForAppend(static_cast<int>(left.count()) + 1);
      if (!waited.ok()) return waited.status();
      wakes_on_arrival_ = *waited;
      if (!*waited) std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    out->reserve(buffer_.size());
    for (store::LogRecord& r : buffer_) {
      SourceRecord rec;
      rec.offset = r.position;
      rec.log_time_us = r.log_time_us;
      rec.value = std::move(r.raw);
      rec.routing_key = std::move(r.key);  // the gate key, read at ingest: routes lanes
      out->push_back(std::move(rec));
    }
    if (!out->empty()) next_after_ = out->back().offset;
    return absl::OkStatus();
  }

  bool WakesOnArrival() const override { return wakes_on_arrival_; }

  absl::StatusOr<std::map<int32_t, int64_t>> EndOffsets() override {
    auto end = store_->LogEnd();
    if (!end.ok()) return end.status();
    return std::map<int32_t, int64_t>{{0, *end}};
  }

  // The embedded log keeps everything: a replay is always complete.
  absl::StatusOr<std::unique_ptr<ReplayReader>> OpenReplay(
      const std::optional<std::map<int32_t, int64_t>>& until, bool /*allow_partial*/) override {
    int64_t end = 0;
    if (until.has_value()) {
      auto it = until->find(0);
      end = it == until->end() ? 0 : it->second;
    } else {
      auto log_end = store_->LogEnd();
      if (!log_end.ok()) return log_end.status();
      end = *log_end;
    }
    return std::make_unique<LogReplay>(store_, end);
  }

 private:
  store::LogStore* store_;
  int64_t next_after_ = 0;
  std::vector<store::LogRecord> buffer_;
  bool wakes_on_arrival_ = false;  // the store waits for appends (WaitForAppend)
};

}  // namespace

std::unique_ptr<Source> NewLogSource(store::LogStore* store) {
  return std::make_unique<LogSource>(store);
}

}  // namespace sv::source
