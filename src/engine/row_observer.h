#pragma once
// How code outside the engine (the server's lookups) follows the rows of some views: told of
// each committed batch's rows of those views, in commit order, before the batch's positions
// are published, so a reader that waited for a position sees them.

#include <memory>
#include <vector>

#include "common/value.h"

namespace sv::engine {

class RowObserver {
 public:
  virtual ~RowObserver() = default;
  // Views (catalog indices) whose changes it wants. Asked once, at Engine::Open.
  virtual std::vector<bool> Watched(size_t view_count) const = 0;
  // One committed batch's rows of `view`: upserted whole rows, deleted rows' key values.
  virtual void OnCommitted(int view, const std::vector<std::shared_ptr<const Row>>& upserts,
                           const std::vector<Row>& deleted_keys) = 0;
  // The view's rows were replaced by other means (a rebuild, a refresh, a transaction too
  // large to keep its rows): read the view afresh.
  virtual void OnReplaced(int view) = 0;
};

}  // namespace sv::engine
