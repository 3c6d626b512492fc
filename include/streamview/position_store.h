#pragma once
// Where each projection stands in its event stream, per partition. Saved in the same unit of
// work as the projection writes it covers, a position is exactly as far as the applied events.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "streamview/status.h"
#include "streamview/unit_of_work.h"

namespace streamview {

namespace detail {
struct ConnectionState;
}

class PositionStore {
 public:
  Status Save(UnitOfWork& uow, const std::string& projection, int64_t position,
              int32_t partition = 0);
  // nullopt: nothing saved yet for that partition.
  Result<std::optional<int64_t>> Get(const std::string& projection, int32_t partition = 0);
  // Every partition's position.
  Result<std::map<int32_t, int64_t>> GetAll(const std::string& projection);

 private:
  friend class Connection;
  explicit PositionStore(detail::ConnectionState* state) : state_(state) {}
  detail::ConnectionState* state_;
};

}  // namespace streamview
