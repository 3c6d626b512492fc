#pragma once
// The engine tells one RowObserver of its commits; the server has several followers (the
// lookups, the per-organization activity): this hands each the views it watches.

#include <memory>
#include <vector>

#include "engine/row_observer.h"

namespace sv::server {

class RowFanout final : public engine::RowObserver {
 public:
  explicit RowFanout(std::vector<engine::RowObserver*> followers)
      : followers_(std::move(followers)) {}

  std::vector<bool> Watched(size_t view_count) const override {
    std::vector<bool> any(view_count, false);
    watched_.clear();
    for (engine::RowObserver* f : followers_) {
      watched_.push_back(f->Watched(view_count));
      for (size_t v = 0; v < view_count; ++v) any[v] = any[v] || watched_.back()[v];
    }
    return any;
  }
  void OnCommitted(int view, const std::vector<std::shared_ptr<const Row>>& upserts,
                   const std::vector<Row>& deleted_keys) override {
    for (size_t i = 0; i < followers_.size(); ++i) {
      if (Watches(i, view)) followers_[i]->OnCommitted(view, upserts, deleted_keys);
    }
  }
  void OnReplaced(int view) override {
    for (size_t i = 0; i < followers_.size(); ++i) {
      if (Watches(i, view)) followers_[i]->OnReplaced(view);
    }
  }

 private:
  bool Watches(size_t follower, int view) const {
    const std::vector<bool>& w = watched_[follower];
    return view >= 0 && static_cast<size_t>(view) < w.size() && w[view];
  }

  std::vector<engine::RowObserver*> followers_;
  mutable std::vector<std::vector<bool>> watched_;  // filled by Watched, asked once at Open
};

}  // namespace sv::server
