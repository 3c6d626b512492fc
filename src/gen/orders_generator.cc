#include "gen/orders_generator.h"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "gen/rng.h"

namespace sv::gen {
namespace {

constexpr size_t kOpenOrders = 100;  // orders in flight at once
constexpr size_t kFlushBytes = 1 << 20;
constexpr int64_t kDayMs = 86'400'000;
constexpr int kMaxDupDistance = 8;  // a duplicate follows its original within this many lines
// The clock advances 1..kMaxStepMs per event, so delay_distance lines (2000 by default) span
// about 20 s of event time: well inside the example's 60 s stash age.
constexpr int kMaxStepMs = 20;

constexpr std::string_view kCurrencies[] = {"EUR", "USD", "GBP", "PLN"};
constexpr std::string_view kProgression[] = {"Confirmed", "Paid", "Packed", "Shipped", "Delivered"};

void AppendInt(std::string& s, int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  s.append(buf, r.ptr);
}

void AppendPadded(std::string& s, int64_t v, int width) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  for (int n = static_cast<int>(r.ptr - buf); n < width; ++n) s.push_back('0');
  s.append(buf, r.ptr);
}

void AppendHex(std::string& s, uint64_t v, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) s.push_back(kHex[(v >> (4 * i)) & 0xf]);
}

void AppendCents(std::string& s, int64_t cents) {
  AppendInt(s, cents / 100);
  s.push_back('.');
  AppendPadded(s, cents % 100, 2);
}

// `"name":"value"` with a leading comma unless first.
void AppendField(std::string& s, std::string_view name, std::string_view value,
                 bool first = false) {
  if (!first) s.push_back(',');
  s.push_back('"');
  s.append(name);
  s.append("\":\"");
  s.append(value);
  s.push_back('"');
}

class Generator {
 public:
  Generator(const OrdersWorkload& w, std::ostream& out, OrdersStats& stats)
      : w_(w),
        out_(out),
        stats_(stats),
        base_rng_(Mix(w.seed ^ 0x6f72646572730001ULL)),
        malformed_rng_(Mix(w.seed ^ 0x6f72646572730002ULL)),
        reorder_rng_(Mix(w.seed ^ 0x6f72646572730003ULL)),
        schedule_rng_(Mix(w.seed ^ 0x6f72646572730004ULL)),
        id_salt_(Mix(w.seed ^ 0x6f72646572730005ULL)),
        bad_id_salt_(Mix(w.seed ^ 0x6f72646572730006ULL)) {
    now_ms_ = *ParseTime("2026-01-05T10:00:00Z") / 1000;
    out_buf_.reserve(kFlushBytes + 4096);
  }

  absl::Status Run() {
    while (open_.size() < kOpenOrders && next_order_ <= w_.orders) open_.push_back(NewOrder());
    while (!open_.empty() && status_.ok()) {
      const size_t i = base_rng_.Below(open_.size());
      now_ms_ += base_rng_.Between(1, kMaxStepMs);
      EmitEvent(open_[i]);
      if (malformed_rng_.Chance(w_.malformed_rate * 0.8)) EmitMalformed(open_[i]);
      if (open_[i].next_seq > open_[i].last_seq) {
        if (next_order_ <= w_.orders) {
          open_[i] = NewOrder();
        } else {
          open_[i] = open_.back();
          open_.pop_back();
        }
      }
    }
    while (!window_.empty()) {
      Schedule(std::move(window_.front().text), window_.front().malformed);
      window_.pop_front();
    }
    while (!scheduled_.empty()) {
      Write(std::move(scheduled_.begin()->second));
      scheduled_.erase(scheduled_.begin());
    }
    FlushBuffer();
    return status_;
  }

 private:
  struct Order {
    int64_t number = 0;
    int items_created = 0;  // items in OrderCreated
    int items_added = 0;    // OrderItemAdded events
    int status_changes = 0;
    bool cancelled = false;  // the last status is Cancelled
    int next_seq = 1;
    int last_seq = 0;
    int item_count = 0;
    bool poisoned = false;
  };
  struct Line {
    std::string text;
    bool malformed;
  };

  Order NewOrder() {
    Order o;
    o.number = next_order_++;
    o.items_created = static_cast<int>(base_rng_.Between(1, 3));
    o.items_added = static_cast<int>(base_rng_.Between(0, 2));
    o.status_changes = static_cast<int>(base_rng_.Between(1, 5));
    o.cancelled = base_rng_.Chance(0.1);
    o.last_seq = 1 + o.items_added + o.status_changes;
    return o;
  }

  std::string Acquire() {
    if (pool_.empty()) {
      std::string s;
      s.reserve(512);
      return s;
    }
    std::string s = std::move(pool_.back());
    pool_.pop_back();
    s.clear();
    return s;
  }
  void Release(std::string s) { pool_.push_back(std::move(s)); }

  void AppendOrderId(std::string& s, int64_t number) {
    s.append("o-");
    AppendPadded(s, number, 7);
  }

  void AppendTime(std::string& s, int64_t ms) {
    const int64_t day = ms / kDayMs;
    if (day != cached_day_) {
      cached_day_ = day;
      cached_date_ = FormatTime(day * kDayMs * 1000).substr(0, 11);  // "YYYY-MM-DDT"
    }
    s.append(cached_date_);
    const int64_t in_day = ms % kDayMs;
    const int64_t secs = in_day / 1000;
    AppendPadded(s, secs / 3600, 2);
    s.push_back(':');
    AppendPadded(s, secs / 60 % 60, 2);
    s.push_back(':');
    AppendPadded(s, secs % 60, 2);
    int64_t frac = in_day % 1000;
    if (frac != 0) {
      int digits = 3;
      while (frac % 10 == 0) {
        frac /= 10;
        --digits;
      }
      s.push_back('.');
      AppendPadded(s, frac, digits);
    }
    s.push_back('Z');
  }

  // A UUID-shaped id; `counter` goes through a bijection, so distinct counters never collide.
  void AppendEventId(std::string& s, uint64_t salt, uint64_t counter) {
    const uint64_t a = Mix(counter + salt);
    const uint64_t b = Mix(a ^ 0xa5a5a5a5a5a5a5a5ULL);
    AppendHex(s, a >> 32, 8);
    s.push_back('-');
    AppendHex(s, (a >> 16) & 0xffff, 4);
    s.push_back('-');
    AppendHex(s, a & 0xffff, 4);
    s.push_back('-');
    AppendHex(s, b >> 48, 4);
    s.push_back('-');
    AppendHex(s, b & 0xffffffffffffULL, 12);
  }

  // `"type":…,"eventId":…,"occurredAt":…` (type omitted when empty), after the opening brace.
  void AppendCommon(std::string& s, std::string_view type, uint64_t salt, uint64_t* counter) {
    bool first = true;
    if (!type.empty()) {
      AppendField(s, "type", type, true);
      first = false;
    }
    if (!first) s.push_back(',');
    s.append("\"eventId\":\"");
    AppendEventId(s, salt, (*counter)++);
    s.append("\",\"occurredAt\":\"");
    AppendTime(s, now_ms_);
    s.push_back('"');
  }

  // Either the envelope head (up to `"value":`) or nothing; the body follows, then Close().
  void Open(std::string& s, bool envelope, std::string_view key, int seq, Rng& rng) {
    if (!envelope) return;
    s.push_back('{');
    if (!key.empty()) {
      AppendField(s, "key", key, true);
      s.append(",\"headers\":{");
    } else {
      s.append("\"headers\":{");
    }
    if (seq > 0) {
      s.append("\"x-sequence\":\"");
      AppendInt(s, seq);
      s.append("\",");
    }
    s.append("\"x-trace-id\":\"");
    AppendHex(s, rng.Next(), 16);
    s.append("\",\"x-event-version\":\"1\"},\"value\":");
  }
  // `s` holds the body without its closing brace.
  void Close(std::string& s, bool envelope, int seq) {
    if (envelope) {
      s.append("}}");
      return;
    }
    if (seq > 0) {
      s.append(",\"sequence\":");
      AppendInt(s, seq);
    }
    s.push_back('}');
  }

  void AppendItem(std::string& s, const Order& o, int line_no, bool poison) {
    s.append("\"itemId\":\"i-");
    AppendPadded(s, o.number, 7);
    s.push_back('-');
    AppendInt(s, line_no);
    s.append("\",\"sku\":\"SKU-");
    AppendPadded(s, base_rng_.Between(0, 9999), 4);
    s.append("\",\"qty\":");
    const int64_t qty = base_rng_.Between(1, 5);
    if (poison) s.push_back('"');
    AppendInt(s, qty);
    if (poison) s.push_back('"');
    s.append(",\"price\":");
    AppendCents(s, base_rng_.Between(99, 19999));
  }

  void EmitEvent(Order& o) {
    const int seq = o.next_seq++;
    const bool envelope = base_rng_.Chance(w_.envelope_rate);
    std::string s = Acquire();
    order_id_.clear();
    AppendOrderId(order_id_, o.number);
    Open(s, envelope, order_id_, seq, base_rng_);
    s.push_back('{');
    bool poison = false;
    if (seq == 1) {
      AppendCommon(s, "OrderCreated", id_salt_, &event_counter_);
      AppendField(s, "orderId", order_id_);
      s.append(",\"customerId\":\"c-");
      AppendPadded(s, base_rng_.Between(1, 99999), 5);
      s.push_back('"');
      AppendField(s, "currency", kCurrencies[base_rng_.Below(std::size(kCurrencies))]);
      s.append(",\"items\":[");
      for (int i = 1; i <= o.items_created; ++i) {
        if (i > 1) s.push_back(',');
        s.push_back('{');
        AppendItem(s, o, i, false);
        s.push_back('}');
      }
      s.push_back(']');
      o.item_count = o.items_created;
    } else if (seq <= 1 + o.items_added) {
      poison = !o.poisoned && malformed_rng_.Chance(w_.malformed_rate);
      o.poisoned = o.poisoned || poison;
      AppendCommon(s, "OrderItemAdded", id_salt_, &event_counter_);
      AppendField(s, "orderId", order_id_);
      s.push_back(',');
      AppendItem(s, o, ++o.item_count, poison);
    } else {
      const int k = seq - 2 - o.items_added;  // 0-based index of this status change
      std::string_view status = kProgression[std::min<size_t>(k, std::size(kProgression) - 1)];
      if (o.cancelled && seq == o.last_seq) status = "Cancelled";
      AppendCommon(s, "OrderStatusChanged", id_salt_, &event_counter_);
      AppendField(s, "orderId", order_id_);
      AppendField(s, "status", status);
    }
    Close(s, envelope, seq);
    if (poison) {
      ++stats_.type_errors;
      ++stats_.malformed;
    } else {
      ++stats_.events;
    }
    Reorder(std::move(s), poison);
  }

  // One extra line that must be dead-lettered; `o` lends a real order key where one is needed.
  void EmitMalformed(const Order& o) {
    Rng& rng = malformed_rng_;
    const bool envelope = rng.Chance(w_.envelope_rate);
    std::string s = Acquire();
    order_id_.clear();
    AppendOrderId(order_id_, o.number);
    switch (rng.Below(4)) {
      case 0: {  // truncated JSON: a strict prefix of an object is never valid JSON
        Open(s, envelope, order_id_, o.next_seq, rng);
        s.push_back('{');
        AppendCommon(s, "OrderStatusChanged", bad_id_salt_, &bad_counter_);
        AppendField(s, "orderId", order_id_);
        AppendField(s, "status", "Shipped");
        Close(s, envelope, o.next_seq);
        s.resize(rng.Between(static_cast<int64_t>(s.size() / 4), s.size() - 1));
        ++stats_.truncated;
        break;
      }
      case 1: {  // no key: neither an envelope key nor an orderId
        Open(s, envelope, "", 1, rng);
        s.push_back('{');
        AppendCommon(s, "OrderStatusChanged", bad_id_salt_, &bad_counter_);
        AppendField(s, "status", "Shipped");
        Close(s, envelope, 1);
        ++stats_.no_key;
        break;
      }
      case 2: {  // no type (and no sequence), for a real order
        Open(s, envelope, order_id_, 0, rng);
        s.push_back('{');
        AppendCommon(s, "", bad_id_salt_, &bad_counter_);
        AppendField(s, "orderId", order_id_);
        AppendField(s, "status", "Shipped");
        Close(s, envelope, 0);
        ++stats_.no_type;
        break;
      }
      default: {  // an undeclared type for a key of its own
        std::string key = "x-";
        AppendPadded(key, ++unknown_counter_, 6);
        Open(s, envelope, key, 1, rng);
        s.push_back('{');
        AppendCommon(s, "OrderTeleported", bad_id_salt_, &bad_counter_);
        AppendField(s, "orderId", key);
        AppendField(s, "destination", "Mars");
        Close(s, envelope, 1);
        ++stats_.unknown_type;
        break;
      }
    }
    ++stats_.malformed;
    Reorder(std::move(s), true);
  }

  // Stage 2: a window of reorder_window lines; a new event line may swap with one of them.
  void Reorder(std::string text, bool malformed) {
    window_.push_back(Line{std::move(text), malformed});
    if (!malformed && window_.size() > 1 && reorder_rng_.Chance(w_.reorder_rate)) {
      const size_t reach = std::min<size_t>(window_.size() - 1, w_.reorder_window);
      const size_t j = window_.size() - 2 - reorder_rng_.Below(reach);
      std::swap(window_[j], window_.back());
      ++stats_.reordered;
    }
    while (window_.size() > static_cast<size_t>(w_.reorder_window)) {
      Schedule(std::move(window_.front().text), window_.front().malformed);
      window_.pop_front();
    }
  }

  // Stage 3: long delays and duplicates, as lines due at a given output line count.
  void Schedule(std::string text, bool malformed) {
    WriteDue();
    if (!malformed && schedule_rng_.Chance(w_.delay_rate)) {
      scheduled_.emplace(std::make_pair(written_ + w_.delay_distance, schedule_order_++),
                         std::move(text));
      ++stats_.delayed;
      return;
    }
    std::optional<std::string> copy;
    if (!malformed && schedule_rng_.Chance(w_.dup_rate)) {
      copy = Acquire();
      copy->assign(text);
    }
    Write(std::move(text));
    if (copy) {
      scheduled_.emplace(std::make_pair(written_ + schedule_rng_.Between(0, kMaxDupDistance - 1),
                                        schedule_order_++),
                         std::move(*copy));
      ++stats_.duplicates;
    }
  }

  void WriteDue() {
    while (!scheduled_.empty() && scheduled_.begin()->first.first <= written_) {
      Write(std::move(scheduled_.begin()->second));
      scheduled_.erase(scheduled_.begin());
    }
  }

  // Stage 4: the output buffer.
  void Write(std::string text) {
    out_buf_.append(text);
    out_buf_.push_back('\n');
    ++written_;
    ++stats_.lines;
    Release(std::move(text));
    if (out_buf_.size() >= kFlushBytes) FlushBuffer();
  }

  void FlushBuffer() {
    if (out_buf_.empty() || !status_.ok()) return;
    out_.write(out_buf_.data(), static_cast<std::streamsize>(out_buf_.size()));
    if (!out_) status_ = absl::DataLossError("writing the workload failed");
    out_buf_.clear();
  }

  const OrdersWorkload& w_;
  std::ostream& out_;
  OrdersStats& stats_;
  absl::Status status_;
  Rng base_rng_;       // the orders themselves: same for every disorder setting
  Rng malformed_rng_;  // which lines are malformed, and their contents
  Rng reorder_rng_;
  Rng schedule_rng_;  // delays and duplicates
  uint64_t id_salt_;
  uint64_t bad_id_salt_;
  uint64_t event_counter_ = 0;
  uint64_t bad_counter_ = 0;
  int64_t unknown_counter_ = 0;
  int64_t next_order_ = 1;
  int64_t now_ms_ = 0;
  int64_t cached_day_ = -1;
  std::string cached_date_;
  std::string order_id_;
  std::vector<Order> open_;
  std::deque<Line> window_;
  std::map<std::pair<int64_t, uint64_t>, std::string> scheduled_;
  uint64_t schedule_order_ = 0;
  int64_t written_ = 0;
  std::vector<std::string> pool_;
  std::string out_buf_;
};

absl::Status Validate(const OrdersWorkload& w) {
  if (w.orders < 0) return absl::InvalidArgumentError("orders must be >= 0");
  const std::pair<const char*, double> rates[] = {{"dup_rate", w.dup_rate},
                                                  {"reorder_rate", w.reorder_rate},
                                                  {"delay_rate", w.delay_rate},
                                                  {"malformed_rate", w.malformed_rate},
                                                  {"envelope_rate", w.envelope_rate}};
  for (const auto& [name, rate] : rates) {
    if (!(rate >= 0.0 && rate <= 1.0)) {
      return absl::InvalidArgumentError(absl::StrCat(name, " must be in [0, 1], got ", rate));
    }
  }
  if (w.reorder_window < 1) return absl::InvalidArgumentError("reorder_window must be >= 1");
  if (w.delay_distance < 1) return absl::InvalidArgumentError("delay_distance must be >= 1");
  return absl::OkStatus();
}

}  // namespace

absl::Status GenerateOrders(const OrdersWorkload& workload, std::ostream& out, OrdersStats* stats) {
  if (absl::Status s = Validate(workload); !s.ok()) return s;
  OrdersStats local;
  OrdersStats& st = stats != nullptr ? *stats : local;
  st = OrdersStats();
  Generator generator(workload, out, st);
  return generator.Run();
}

}  // namespace sv::gen
