#include "server/subscriptions.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "engine/view_versions.h"
#include "server/json.h"
#include "store/row_filter.h"

namespace sv::server {

struct SubscriptionHub::Change {
  int64_t id = 0;
  bool deleted = false;
  std::shared_ptr<const Row> row;  // an upsert's whole row
  Row key;                         // a delete's key values
  // The row's organization (a delete: the deleted row's); nullopt when it has none (or none is
  // known): then only callers who see every row get it.
  std::optional<std::string> org;
  std::optional<std::string> left_org;  // an upsert: the organization the row moved away from
};

struct SubscriptionHub::Subscriber {
  struct Item {
    std::shared_ptr<const Change> change;
    bool as_delete = false;  // an upsert that took the row out of the subscriber's organization
  };
  int view = 0;
  const Shape* shape = nullptr;    // its rows' (the stream ends if the view's shape changes)
  std::optional<std::string> org;  // nullopt: every row
  std::vector<store::Filter> filters;
  std::deque<Item> queue;
  std::optional<int64_t> ready_id;  // the `ready` event still to send (its id line, if any)
  bool ready_sent = false;
  bool ready_has_id = true;
  // Waiting for the view's organizations to load: nothing is sent until then, and the `ready`
  // (or `reset`) then sent carries the id the load ended at.
  bool held = false;
  std::optional<int64_t> reset_id;  // a `reset` to send before the queue
  std::string reset_reason;
  bool ended = false;
  bool removed = false;
  bool wake_pending = false;
  std::function<void()> wake;
};

namespace {

// Whether subscriber `s` sees `c`, and as what.
bool Visible(const SubscriptionHub::Subscriber& s, const SubscriptionHub::Change& c,
             bool* as_delete) {
  *as_delete = c.deleted;
  if (s.org.has_value() && c.org != s.org) {
    if (!c.deleted && c.left_org == s.org) {
      *as_delete = true;
      return true;
    }
    return false;
  }
  // Out of the subscriber's filters (now, or all along): a delete, which a client folding the
  // stream applies whether or not it held the row.
  if (!c.deleted && !s.filters.empty() && !store::RowMatches(*c.row, s.filters)) {
    *as_delete = true;
  }
  return true;
}

std::string Event(std::optional<int64_t> id, std::string_view name, std::string_view data) {
  std::string out;
  if (id.has_value()) absl::StrAppend(&out, "id: ", *id, "\n");
  absl::StrAppend(&out, "event: ", std::string(name), "\ndata: ", std::string(data), "\n\n");
  return out;
}

}  // namespace

class SubscriptionHub::Stream final : public http::StreamBody {
 public:
  Stream(std::shared_ptr<SubscriptionHub> hub, std::shared_ptr<Subscriber> s)
      : hub_(std::move(hub)), s_(std::move(s)) {}
  ~Stream() override { Cancel(); }

  void Start(std::function<void()> wake) override {
    std::lock_guard<std::mutex> lock(hub_->mu_);
    s_->wake = std::move(wake);
  }

  bool Pull(std::string* out) override {
    std::deque<Subscriber::Item> items;
    bool ended;
    {
      std::lock_guard<std::mutex> lock(hub_->mu_);
      s_->wake_pending = false;
      if (s_->held) return !s_->ended;
      if (!s_->ready_sent) {
        s_->ready_sent = true;
        const std::string& name = hub_->catalog_.views[s_->view].name;
        absl::StrAppend(out, Event(s_->ready_has_id ? s_->ready_id : std::nullopt, "ready",
                                   absl::StrCat("{\"view\":\"", name,
                                                "\",\"last_event_id\":", *s_->ready_id, "}")));
      }
      if (s_->reset_id.has_value()) {
        absl::StrAppend(out, Event(s_->reset_id, "reset",
                                   absl::StrCat("{\"reason\":\"", s_->reset_reason, "\"}")));
        s_->reset_id.reset();
      }
      items.swap(s_->queue);
      ended = s_->ended;
    }
    for (const Subscriber::Item& item : items) {
      const Change& c = *item.change;
      if (!item.as_delete) {
        absl::StrAppend(out, Event(c.id, "upsert", Render(*s_->shape, c)));
        continue;
      }
      Change as_delete;
      as_delete.deleted = true;
      as_delete.key = c.deleted ? c.key : Row();
      if (!c.deleted) {
        for (int k : s_->shape->table->key) as_delete.key.push_back((*c.row)[k]);
      }
      absl::StrAppend(out, Event(c.id, "delete", Render(*s_->shape, as_delete)));
    }
    return !ended;
  }

  std::string Heartbeat() const override { return ": heartbeat\n\n"; }

  void Cancel() override { hub_->Remove(s_); }

 private:
  std::shared_ptr<SubscriptionHub> hub_;
  std::shared_ptr<Subscriber> s_;
};

SubscriptionHub::SubscriptionHub(const projection::Catalog& catalog, const ViewTable& table,
                                 SubscriptionLimits limits, ScanView scan, int64_t first_id)
    : catalog_(catalog), limits_(limits), scan_(std::move(scan)), last_id_(first_id - 1) {
  views_.resize(catalog.views.size());
  for (size_t i = 0; i < catalog.views.size(); ++i) {
    const projection::ViewPlan& plan = catalog.views[i];
    View& v = views_[i];
    v.resumable_after = last_id_;
    const int previous = plan.previous - static_cast<int>(catalog.views.size());
    for (int definition = 0; definition < 2; ++definition) {
      const bool of_previous = definition == 1;
      if (of_previous &&
          (previous < 0 || static_cast<size_t>(previous) >= catalog.previous_views.size())) {
        break;
      }
      const projection::ViewPlan& p = of_previous ? catalog.previous_views[previous] : plan;
      Shape& shape = v.shapes[definition];
      shape.table = table(static_cast<int>(i), of_previous);
      if (shape.table == nullptr) break;
      shape.tenant = p.tenant;
      for (size_t k = 0; k < p.key.size(); ++k) {
        if (p.tenant >= 0 && p.key[k] == p.tenant) shape.tenant_in_key = static_cast<int>(k);
      }
      shape.needs_orgs = p.tenant >= 0 && shape.tenant_in_key < 0;
    }
    const Shape& mine = v.shapes[0];
    const Shape& old = v.shapes[1];
    v.shapes_differ = old.table != nullptr &&
                      (!engine::SameShape(*mine.table, *old.table) || mine.tenant != old.tenant);
  }
}

SubscriptionHub::~SubscriptionHub() { Shutdown(); }

std::vector<bool> SubscriptionHub::Watched(size_t view_count) const {
  std::vector<bool> watched(view_count, false);
  if (!enabled()) return watched;
  for (size_t v = 0; v < view_count && v < catalog_.views.size(); ++v) {
    watched[v] = !catalog_.views[v].internal;  // served to no one, so followed by no one
  }
  return watched;
}

std::string SubscriptionHub::KeyOf(const Shape& shape, const Row& row, bool whole_row) {
  std::string encoded;
  if (!whole_row) {
    EncodeKey(row.data(), row.size(), &encoded);
    return encoded;
  }
  Row key;
  for (int k : shape.table->key) key.push_back(row[k]);
  EncodeKey(key.data(), key.size(), &encoded);
  return encoded;
}

std::string SubscriptionHub::Render(const Shape& shape, const Change& change) {
  const store::TableSpec& table = *shape.table;
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  if (!change.deleted) {
    WriteRow(w, table, *change.row);
  } else {
    w.StartObject();
    for (size_t i = 0; i < table.key.size() && i < change.key.size(); ++i) {
      WriteText(w, table.columns[table.key[i]].name);
      WriteValue(w, change.key[i]);
    }
    w.EndObject();
  }
  return buf.GetString();
}

absl::StatusOr<std::shared_ptr<http::StreamBody>> SubscriptionHub::Subscribe(
    int view, Serving serving, std::optional<std::string> organization,
    std::optional<int64_t> after, std::vector<store::Filter> filters) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return absl::UnavailableError("the server is stopping");
  View& v = views_[view];
  const int shape = serving.previous ? 1 : 0;
  if (v.shapes[shape].table == nullptr) {
    return absl::InternalError("the serving version's definition is unknown to the server");
  }
  // The serving definition was read before a replace: it may not be the one whose rows come.
  if (serving.replacements != v.replacements ||
      (v.state != State::kIdle && v.shapes_differ && v.serving != shape)) {
    return absl::AbortedError("the view was replaced meanwhile");
  }
  if (static_cast<int64_t>(count_) >= limits_.max_subscribers) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "too many subscribers (server.subscriptions.max_subscribers: ", limits_.max_subscribers,
        ")"));
  }
  if (v.state == State::kIdle) v.serving = shape;
  auto s = std::make_shared<Subscriber>();
  s->view = view;
  s->shape = &v.shape();
  s->org = std::move(organization);
  s->filters = std::move(filters);
  s->ready_id = last_id_;
  if (after.has_value()) {
    // A resume: the ready event carries no id (the backlog that follows has smaller ones).
    s->ready_has_id = false;
    if (v.state == State::kTracking && v.resumable_after <= *after && *after <= last_id_) {
      for (const auto& c : v.ring) {
        bool as_delete = false;
        if (c->id <= *after || !Visible(*s, *c, &as_delete)) continue;
        if (static_cast<int64_t>(s->queue.size()) >= limits_.queue_events) {
          s->queue.clear();
          s->reset_id = v.ring.back()->id;
          s->reset_reason = "the backlog exceeds server.subscriptions.queue_events";
          break;
        }
        s->queue.push_back({c, as_delete});
      }
    } else {
      s->reset_id = last_id_;
      s->reset_reason = "the resume point is no longer held";
    }
  }
  if (v.state == State::kIdle) StartTrackingLocked(view);
  if (v.state == State::kLoading) {
    s->held = true;
    if (after.has_value()) s->reset_reason = "the resume point is no longer held";
  }
  v.subscribers.push_back(s);
  ++count_;
  return std::shared_ptr<http::StreamBody>(std::make_shared<Stream>(shared_from_this(), s));
}

void SubscriptionHub::StartTrackingLocked(int view) {
  View& v = views_[view];
  v.resumable_after = last_id_;
  v.ring.clear();
  if (!v.shape().needs_orgs) {
    v.state = State::kTracking;
    return;
  }
  v.state = State::kLoading;
  ++v.generation;
  v.pending.clear();
  to_load_.push_back(view);
  if (!loader_.joinable()) loader_ = std::thread([this] { LoadLoop(); });
  load_cv_.notify_all();
}

void SubscriptionHub::LoadLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    load_cv_.wait(lock, [this] { return shut_down_ || !to_load_.empty(); });
    if (shut_down_) return;
    const int view = to_load_.front();
    to_load_.pop_front();
    if (views_[view].state != State::kLoading) continue;
    const uint64_t generation = views_[view].generation;
    const Shape& shape = views_[view].shape();
    const int tenant = shape.tenant;
    lock.unlock();
    // Commits from here on are queued in `pending`, to bring the map up to date after the scan
    // (replaying a commit the scan already saw sets the same organizations again). They are not
    // sent: a delete among them may name a row the scan no longer saw. Subscribers are held
    // until the load ends and then told to read the view, which holds those commits.
    absl::flat_hash_map<std::string, std::string> orgs;
    const absl::Status scanned = scan_(*shape.table, [&](const Row& row) {
      if (static_cast<size_t>(tenant) < row.size() && !row[tenant].is_null()) {
        orgs[KeyOf(shape, row, true)] = row[tenant].ToString();
      }
    });
    lock.lock();
    if (shut_down_) return;
    View& v = views_[view];
    if (v.generation != generation || v.state != State::kLoading) continue;  // replaced: again
    Wakes wakes;
    if (!scanned.ok()) {
      LogJson("error", "subscriptions: cannot read the view's organizations",
              {{"view", catalog_.views[view].name}, {"error", std::string(scanned.message())}});
      v.pending.clear();
      v.state = State::kIdle;
      ResetLocked(v, ++last_id_, "the view could not be read", /*end=*/true, &wakes);
      for (const auto& sub : v.subscribers) sub->held = false;
    } else {
      for (const Commit& c : v.pending) {
        for (const auto& row : c.upserts) {
          std::string key = KeyOf(shape, *row, true);
          if ((*row)[tenant].is_null()) {
            orgs.erase(key);
          } else {
            orgs.insert_or_assign(std::move(key), (*row)[tenant].ToString());
          }
        }
        for (const Row& key : c.deleted_keys) orgs.erase(KeyOf(shape, key, false));
      }
      v.pending.clear();
      v.orgs = std::move(orgs);
      v.state = State::kTracking;
      v.ring.clear();
      v.resumable_after = last_id_;
      for (const auto& sub : v.subscribers) {
        if (!sub->held) continue;
        sub->held = false;
        if (!sub->ready_sent) {
          sub->ready_id = last_id_;
          sub->ready_has_id = sub->reset_reason.empty();
        }
        if (sub->ready_sent || !sub->reset_reason.empty()) {
          sub->reset_id = last_id_;
          if (sub->reset_reason.empty()) sub->reset_reason = "the view was replaced";
        }
        if (sub->wake) wakes.push_back(sub->wake);
      }
    }
    lock.unlock();
    for (auto& wake : wakes) wake();
    lock.lock();
  }
}

void SubscriptionHub::OnCommitted(int view, const std::vector<std::shared_ptr<const Row>>& upserts,
                                  const std::vector<Row>& deleted_keys) {
  Wakes wakes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (view < 0 || static_cast<size_t>(view) >= views_.size()) return;
    View& v = views_[view];
    if (v.state == State::kIdle) return;  // never subscribed: nothing to keep
    if (v.state == State::kLoading) {
      v.pending.push_back({upserts, deleted_keys});
      return;
    }
    ProcessLocked(view, upserts, deleted_keys, &wakes);
  }
  for (auto& wake : wakes) wake();
}

void SubscriptionHub::ProcessLocked(int view,
                                    const std::vector<std::shared_ptr<const Row>>& upserts,
                                    const std::vector<Row>& deleted_keys, Wakes* wakes) {
  View& v = views_[view];
  const Shape& shape = v.shape();
  for (const auto& row : upserts) {
    auto c = std::make_shared<Change>();
    c->row = row;
    if (shape.tenant >= 0 && static_cast<size_t>(shape.tenant) < row->size() &&
        !(*row)[shape.tenant].is_null()) {
      c->org = (*row)[shape.tenant].ToString();
    }
    if (shape.needs_orgs) {
      std::string key = KeyOf(shape, *row, true);
      auto it = v.orgs.find(key);
      if (it != v.orgs.end() && c->org != it->second) c->left_org = it->second;
      if (c->org.has_value()) {
        v.orgs.insert_or_assign(std::move(key), *c->org);
      } else if (it != v.orgs.end()) {
        v.orgs.erase(it);
      }
    }
    c->id = ++last_id_;
    AppendLocked(v, std::move(c), wakes);
  }
  for (const Row& key : deleted_keys) {
    auto c = std::make_shared<Change>();
    c->deleted = true;
    c->key = key;
    if (shape.tenant_in_key >= 0) {
      if (static_cast<size_t>(shape.tenant_in_key) < key.size() &&
          !key[shape.tenant_in_key].is_null()) {
        c->org = key[shape.tenant_in_key].ToString();
      }
    } else if (shape.needs_orgs) {
      auto it = v.orgs.find(KeyOf(shape, key, false));
      if (it != v.orgs.end()) {
        c->org = std::move(it->second);
        v.orgs.erase(it);
      }
    }
    c->id = ++last_id_;
    AppendLocked(v, std::move(c), wakes);
  }
}

void SubscriptionHub::AppendLocked(View& v, std::shared_ptr<const Change> change, Wakes* wakes) {
  for (const auto& s : v.subscribers) {
    bool as_delete = false;
    if (s->ended || !Visible(*s, *change, &as_delete)) continue;
    if (static_cast<int64_t>(s->queue.size()) >= limits_.queue_events) {
      // Too far behind: the backlog is dropped and the client re-reads the view, which holds
      // this change already (it committed before it was told).
      s->queue.clear();
      s->reset_id = change->id;
      s->reset_reason = "the subscriber fell server.subscriptions.queue_events behind";
    } else {
      s->queue.push_back({change, as_delete});
    }
    if (!s->wake_pending && s->wake) {
      s->wake_pending = true;
      wakes->push_back(s->wake);
    }
  }
  v.ring.push_back(std::move(change));
  while (static_cast<int64_t>(v.ring.size()) > limits_.resume_events) {
    v.resumable_after = v.ring.front()->id;
    v.ring.pop_front();
  }
}

void SubscriptionHub::ResetLocked(View& v, int64_t id, const char* reason, bool end, Wakes* wakes) {
  v.ring.clear();
  v.resumable_after = id;
  for (const auto& s : v.subscribers) {
    s->queue.clear();
    s->reset_id = id;
    s->reset_reason = reason;
    s->ended = s->ended || end;
    if (s->wake) wakes->push_back(s->wake);
  }
}

void SubscriptionHub::OnReplaced(int view) {
  Wakes wakes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (view < 0 || static_cast<size_t>(view) >= views_.size()) return;
    View& v = views_[view];
    ++v.replacements;
    if (v.state == State::kIdle) return;
    if (v.shapes_differ) {
      // The version now serving may write rows of the other shape: its streams end after their
      // reset, and the next subscription reads which definition serves.
      ResetLocked(v, ++last_id_, "the view was replaced", /*end=*/true, &wakes);
      count_ -= v.subscribers.size();
      for (const auto& sub : v.subscribers) {
        sub->removed = true;
        sub->held = false;
      }
      v.subscribers.clear();
      v.state = State::kIdle;
      ++v.generation;
      v.orgs.clear();
      v.pending.clear();
    } else {
      ResetLocked(v, ++last_id_, "the view was replaced", /*end=*/false, &wakes);
    }
    if (v.state != State::kIdle && v.shape().needs_orgs) {
      // The organizations are read again; the subscribers' reset waits for the load's end.
      for (const auto& sub : v.subscribers) {
        sub->held = true;
        sub->reset_id.reset();
      }
      ++v.generation;
      v.orgs.clear();
      v.pending.clear();
      v.state = State::kLoading;
      to_load_.push_back(view);
      load_cv_.notify_all();
    }
  }
  for (auto& wake : wakes) wake();
}

void SubscriptionHub::Remove(const std::shared_ptr<Subscriber>& s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (s->removed) return;
  s->removed = true;
  s->wake = nullptr;
  auto& subs = views_[s->view].subscribers;
  subs.erase(std::remove(subs.begin(), subs.end(), s), subs.end());
  --count_;
}

void SubscriptionHub::Shutdown() {
  Wakes wakes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    for (View& v : views_) {
      for (const auto& s : v.subscribers) {
        s->ended = true;
        if (s->wake) wakes.push_back(s->wake);
      }
    }
    load_cv_.notify_all();
  }
  for (auto& wake : wakes) wake();
  if (loader_.joinable()) loader_.join();
}

uint64_t SubscriptionHub::Replacements(int view) const {
  std::lock_guard<std::mutex> lock(mu_);
  return views_[view].replacements;
}

size_t SubscriptionHub::subscribers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

}  // namespace sv::server
