#include "gen/shipments_generator.h"

#include <algorithm>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/time_util.h"
#include "gen/rng.h"

namespace sv::gen {
namespace {

constexpr size_t kOpen = 100;  // shipments in flight at once
constexpr size_t kFlushBytes = 1 << 20;
constexpr int64_t kHourUs = 3'600'000'000LL;
constexpr int64_t kDayUs = 24 * kHourUs;
constexpr int64_t kSpanUs = 60 * kDayUs;  // creation times spread over about two months
constexpr int kMaxDupDistance = 8;

constexpr std::string_view kServices[] = {"Express", "Standard", "Economy"};
constexpr int64_t kPromisedDays[] = {1, 3, 6};
constexpr std::string_view kCountries[] = {"DE", "PL", "FR", "NL", "GB", "US"};
constexpr std::string_view kUnitTypes[] = {"Pallet", "Parcel", "Crate"};
constexpr std::string_view kExceptions[] = {"Damaged", "Delayed", "Customs", "AddressIssue"};

// One planned event: its JSON body (without type, ids and sequence) and time.
struct Planned {
  std::string type;
  int64_t at_us;
  std::string fields;
};

struct Shipment {
  std::string id;
  std::vector<Planned> events;
  size_t next = 0;
};

class Generator {
 public:
  Generator(const ShipmentsWorkload& w, std::ostream& out, ShipmentsStats& stats)
      : w_(w),
        out_(out),
        stats_(stats),
        rng_(Mix(w.seed ^ 0x7368697001ULL)),
        disorder_rng_(Mix(w.seed ^ 0x7368697002ULL)) {
    base_us_ = *ParseTime("2026-01-01T06:00:00Z");
  }

  absl::Status Run() {
    std::vector<Shipment> open;
    while (open.size() < kOpen && next_ <= w_.shipments) open.push_back(NewShipment());
    while (!open.empty() && status_.ok()) {
      const size_t i = rng_.Below(open.size());
      Shipment& s = open[i];
      Emit(s, s.events[s.next], static_cast<int>(s.next) + 1);
      if (++s.next == s.events.size()) {
        if (next_ <= w_.shipments) {
          open[i] = NewShipment();
        } else {
          open[i] = std::move(open.back());
          open.pop_back();
        }
      }
    }
    while (!window_.empty()) {
      Schedule(std::move(window_.front()));
      window_.pop_front();
    }
    for (auto& [due, text] : scheduled_) Write(std::move(text));
    scheduled_.clear();
    Flush();
    return status_;
  }

 private:
  std::string Name(std::string_view prefix, int64_t n, int width) {
    return absl::StrFormat("%s%0*d", std::string(prefix), width, n);
  }

  Shipment NewShipment() {
    const int64_t n = next_++;
    Shipment s;
    s.id = Name("S", n, 8);
    const int64_t created = base_us_ + kSpanUs * (n - 1) / std::max<int64_t>(w_.shipments, 1) +
                            rng_.Between(0, 3'600) * 1'000'000;
    const size_t service = rng_.Below(3);
    const std::string org = Name("org-", rng_.Between(1, w_.orgs), 2);
    std::string carrier = Name("carrier-", rng_.Between(1, w_.carriers), 2);
    const int64_t promised = created + kPromisedDays[service] * kDayUs;
    const std::string_view origin = kCountries[rng_.Below(std::size(kCountries))];
    const std::string_view dest = kCountries[rng_.Below(std::size(kCountries))];
    s.events.push_back(
        {"ShipmentCreated", created,
         absl::StrFormat(R"("orgId":"%s","reference":"REF-%d","carrierId":"%s","service":"%s",)"
                         R"("originCountry":"%s","destinationCountry":"%s","promisedAt":"%s",)"
                         R"("cost":%d.%02d)",
                         org, n, carrier, std::string(kServices[service]), std::string(origin),
                         std::string(dest), FormatTime(promised), rng_.Between(20, 900),
                         rng_.Between(0, 99))});
    int64_t t = created;
    const int consignments = static_cast<int>(rng_.Between(0, 3));
    for (int c = 1; c <= consignments; ++c) {
      t += rng_.Between(1, 120) * 60'000'000;
      s.events.push_back(
          {"ConsignmentAdded", t,
           absl::StrFormat(R"("consignmentId":"%s-C%d","unitType":"%s","units":%d,)"
                           R"("weightKg":%d.%d)",
                           s.id, c, std::string(kUnitTypes[rng_.Below(3)]), rng_.Between(1, 20),
                           rng_.Between(1, 800), rng_.Between(0, 9))});
    }
    if (rng_.Chance(0.2)) {
      carrier = Name("carrier-", rng_.Between(1, w_.carriers), 2);
      t += rng_.Between(1, 6) * kHourUs;
      s.events.push_back({"CarrierAssigned", t,
                          absl::StrFormat(R"("carrierId":"%s","cost":%d.%02d)", carrier,
                                          rng_.Between(20, 900), rng_.Between(0, 99))});
    }
    auto status = [&](std::string_view name, int64_t at, std::string extra = "") {
      s.events.push_back(
          {"StatusChanged", at, absl::StrCat(R"("status":")", std::string(name), "\"", extra)});
    };
    if (rng_.Chance(0.05)) {
      status("Cancelled", t + rng_.Between(1, 24) * kHourUs);
    } else {
      t += rng_.Between(2, 30) * kHourUs;
      status("PickedUp", t);
      t += rng_.Between(1, 10) * kHourUs;
      status("InTransit", t);
      if (rng_.Chance(0.12)) {
        t += rng_.Between(1, 48) * kHourUs;
        status("Exception", t,
               absl::StrCat(R"(,"exceptionType":")",
                            std::string(kExceptions[rng_.Below(std::size(kExceptions))]), "\""));
        if (rng_.Chance(0.5)) {
          t += rng_.Between(1, 24) * kHourUs;
          status("InTransit", t);
        }
      }
      if (rng_.Chance(0.9)) {
        // Mostly by the promised time, some late.
        t = std::max(t + rng_.Between(1, 12) * kHourUs, promised - rng_.Between(-30, 40) * kHourUs);
        status("Delivered", t);
      }
    }
    if (rng_.Chance(0.01)) s.events.push_back({"ShipmentDeleted", t + kHourUs, ""});
    return s;
  }

  void Emit(const Shipment& s, const Planned& e, int sequence) {
    std::string line = absl::StrFormat(
        R"({"type":"%s","shipmentId":"%s","sequence":%d,"eventId":"%s-%d","occurredAt":"%s")",
        e.type, s.id, sequence, s.id, sequence, FormatTime(e.at_us));
    if (!e.fields.empty()) absl::StrAppend(&line, ",", e.fields);
    line.push_back('}');
    ++stats_.events;
    window_.push_back(std::move(line));
    if (window_.size() > 1 && disorder_rng_.Chance(w_.reorder_rate)) {
      const size_t reach = std::min<size_t>(window_.size() - 1, w_.reorder_window);
      std::swap(window_[window_.size() - 2 - disorder_rng_.Below(reach)], window_.back());
      ++stats_.reordered;
    }
    while (window_.size() > static_cast<size_t>(w_.reorder_window)) {
      Schedule(std::move(window_.front()));
      window_.pop_front();
    }
  }

  void Schedule(std::string text) {
    while (!scheduled_.empty() && scheduled_.begin()->first.first <= written_) {
      Write(std::move(scheduled_.begin()->second));
      scheduled_.erase(scheduled_.begin());
    }
    if (disorder_rng_.Chance(w_.dup_rate)) {
      scheduled_.emplace(
          std::make_pair(written_ + disorder_rng_.Between(1, kMaxDupDistance), order_++), text);
      ++stats_.duplicates;
    }
    Write(std::move(text));
  }

  void Write(std::string text) {
    buf_.append(text);
    buf_.push_back('\n');
    ++written_;
    ++stats_.lines;
    if (buf_.size() >= kFlushBytes) Flush();
  }

  void Flush() {
    if (buf_.empty() || !status_.ok()) return;
    out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
    if (!out_) status_ = absl::DataLossError("writing the workload failed");
    buf_.clear();
  }

  const ShipmentsWorkload& w_;
  std::ostream& out_;
  ShipmentsStats& stats_;
  absl::Status status_;
  Rng rng_;
  Rng disorder_rng_;
  int64_t base_us_ = 0;
  int64_t next_ = 1;
  std::deque<std::string> window_;
  std::map<std::pair<int64_t, uint64_t>, std::string> scheduled_;
  uint64_t order_ = 0;
  int64_t written_ = 0;
  std::string buf_;
};

}  // namespace

absl::Status GenerateShipments(const ShipmentsWorkload& workload, std::ostream& out,
                               ShipmentsStats* stats) {
  if (workload.shipments < 0) return absl::InvalidArgumentError("shipments must be >= 0");
  if (workload.orgs < 1 || workload.carriers < 1) {
    return absl::InvalidArgumentError("orgs and carriers must be >= 1");
  }
  if (workload.reorder_window < 1) return absl::InvalidArgumentError("reorder_window must be >= 1");
  ShipmentsStats local;
  ShipmentsStats& st = stats != nullptr ? *stats : local;
  st = ShipmentsStats();
  Generator generator(workload, out, st);
  return generator.Run();
}

}  // namespace sv::gen
