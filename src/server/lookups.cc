#include "server/lookups.h"

#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "server/json.h"

namespace sv::server {

Lookups::Lookups(const projection::Catalog& catalog, ServingTable serving)
    : serving_(std::move(serving)) {
  for (size_t i = 0; i < catalog.lookups.size(); ++i) {
    auto one = std::make_unique<One>();
    const projection::ViewPlan& view = catalog.views[catalog.lookups[i].view];
    one->config = {&catalog.lookups[i], &view};
    if (const auto& over_previous = catalog.previous_lookups[i]; over_previous.has_value()) {
      one->previous = {
          &*over_previous,
          &catalog.previous_views[view.previous - static_cast<int>(catalog.views.size())]};
    }
    lookups_.push_back(std::move(one));
  }
}

int Lookups::Find(std::string_view name) const {
  for (size_t i = 0; i < lookups_.size(); ++i) {
    if (lookups_[i]->config.plan->name == name) return static_cast<int>(i);
  }
  return -1;
}

std::vector<bool> Lookups::Watched(size_t view_count) const {
  std::vector<bool> watched(view_count, false);
  for (const auto& one : lookups_) watched[one->config.plan->view] = true;
  return watched;
}

std::string Lookups::KeyOf(const One& one, const Row& row) const {
  return EncodeKeyOf(row, one.serving().view->key);
}

bool Lookups::ItemOf(const One& one, const Row& row, lookup::LookupIndex::Item* item) const {
  const projection::LookupPlan& plan = *one.serving().plan;
  item->key = KeyOf(one, row);
  for (const auto& [column, value] : plan.where) {
    if (!(row[column] == value)) return false;
  }
  item->scope.clear();
  if (plan.scope >= 0) EncodeKey(&row[plan.scope], 1, &item->scope);
  const projection::ViewPlan& view = *one.serving().view;
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  for (int f : plan.fields) {
    w.Key(view.columns[f].name.c_str());
    WriteValue(w, row[f]);
  }
  w.EndObject();
  item->payload.assign(buf.GetString(), buf.GetSize());
  const Value& label = row[plan.label];
  item->label = label.type() == Type::kText ? label.as_text() : "";
  return true;
}

void Lookups::Apply(One& one, const Row& row) {
  lookup::LookupIndex::Item item;
  if (!ItemOf(one, row, &item)) {
    one.index.Erase(item.key);  // a row that stops matching leaves the lookup
    return;
  }
  one.index.Put(item.key, std::move(item.scope), item.label, std::move(item.payload));
}

void Lookups::Apply(One& one, const std::vector<std::shared_ptr<const Row>>& upserts,
                    const std::vector<Row>& deleted_keys) {
  for (const Row& key : deleted_keys) {
    std::string encoded;
    EncodeKey(key.data(), key.size(), &encoded);
    one.index.Erase(encoded);
  }
  for (const auto& row : upserts) Apply(one, *row);
}

void Lookups::OnCommitted(int view, const std::vector<std::shared_ptr<const Row>>& upserts,
                          const std::vector<Row>& deleted_keys) {
  for (auto& one : lookups_) {
    if (one->config.plan->view != view) continue;
    std::lock_guard lock(one->mu);
    switch (one->state) {
      case State::kUnloaded:
        break;  // committed before any load starts: the load's scan sees it
      case State::kLoading:
        one->queued.push_back({upserts, deleted_keys});
        break;
      case State::kLoaded:
        Apply(*one, upserts, deleted_keys);
        break;
    }
  }
}

void Lookups::OnReplaced(int view) {
  for (auto& one : lookups_) {
    if (one->config.plan->view != view) continue;
    std::lock_guard lock(one->mu);
    one->state = State::kUnloaded;
    one->queued.clear();
    ++one->generation;
  }
}

absl::Status Lookups::EnsureLoaded(One& one, store::Store* reader) {
  std::lock_guard load(one.load_mu);
  // A view replaced during the scan is scanned again; a few tries, then the caller hears of it.
  for (int attempt = 0; attempt < 5; ++attempt) {
    uint64_t generation = 0;
    {
      std::lock_guard lock(one.mu);
      if (one.state == State::kLoaded) return absl::OkStatus();
      // From here on commits are queued: what the scan below misses comes after it.
      one.state = State::kLoading;
      one.queued.clear();
      generation = one.generation;
    }
    // Read after the generation: a version switched after this is seen by the check below.
    bool previous = false;
    absl::StatusOr<store::TableSpec> table = serving_(one.config.plan->view, *reader, &previous);
    const auto started = std::chrono::steady_clock::now();
    std::vector<lookup::LookupIndex::Item> items;
    absl::Status scanned = table.status();
    if (scanned.ok() && previous && one.previous.plan == nullptr) {
      scanned = absl::FailedPreconditionError(absl::StrCat(
          "lookup ", one.config.plan->name, " does not fit the serving version's columns"));
    }
    if (scanned.ok()) {
      one.serving_previous = previous;
      scanned = reader->ScanTable(*table, [&](const Row& row) {
        if (!ItemOf(one, row, &items.emplace_back())) items.pop_back();
      });
    }
    const auto read = std::chrono::steady_clock::now();
    const size_t count = items.size();
    if (scanned.ok()) one.index.Replace(std::move(items));
    if (scanned.ok()) {
      auto seconds = [](auto from, auto to) {
        return absl::StrFormat("%.3f", std::chrono::duration<double>(to - from).count());
      };
      LogJson("info", "lookup loaded",
              {{"lookup", one.config.plan->name},
               {"entries", std::to_string(count)},
               {"read_seconds", seconds(started, read)},
               {"index_seconds", seconds(read, std::chrono::steady_clock::now())}});
    }
    std::lock_guard lock(one.mu);
    if (!scanned.ok()) {
      one.state = State::kUnloaded;
      return scanned;
    }
    if (one.generation != generation) continue;  // replaced meanwhile
    for (const Queued& q : one.queued) Apply(one, q.upserts, q.deleted_keys);
    one.queued.clear();
    one.state = State::kLoaded;
    return absl::OkStatus();
  }
  return absl::UnavailableError("the lookup's view is being replaced; try again");
}

void Lookups::StartPreload(std::function<bool()> engine_started, const store::StoreOptions& store) {
  if (lookups_.empty()) return;
  preload_ = std::thread([this, engine_started = std::move(engine_started), store] {
    while (!stop_preload_.load() && !engine_started()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (stop_preload_.load()) return;
    auto reader = store::OpenStore(store, store::StoreRole::kReader);
    if (!reader.ok()) return;
    {
      std::lock_guard lock(preload_mu_);
      if (stop_preload_.load()) return;
      preload_reader_ = reader->get();  // StopPreload may interrupt its scans from here on
    }
    for (auto& one : lookups_) {
      if (stop_preload_.load()) break;
      // A failure is logged; the first read tries again and answers with the error.
      absl::Status s = EnsureLoaded(*one, reader->get());
      if (!s.ok() && !stop_preload_.load()) {
        LogJson("warn", "lookup preload failed",
                {{"lookup", one->config.plan->name}, {"error", std::string(s.message())}});
      }
    }
    std::lock_guard lock(preload_mu_);
    preload_reader_ = nullptr;
  });
}

void Lookups::StopPreload() {
  {
    // A large view's scan would hold the stopping server until its end: it stops now.
    std::lock_guard lock(preload_mu_);
    stop_preload_.store(true);
    if (preload_reader_ != nullptr) preload_reader_->Interrupt();
  }
  if (preload_.joinable()) preload_.join();
}

absl::StatusOr<std::vector<std::string>> Lookups::Search(int lookup, store::Store* reader,
                                                         std::string_view scope,
                                                         std::string_view query, size_t limit) {
  One& one = *lookups_[lookup];
  SV_RETURN_IF_ERROR(EnsureLoaded(one, reader));
  return one.index.Search(scope, query, limit);
}

}  // namespace sv::server
