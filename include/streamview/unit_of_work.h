#pragma once
// One store transaction. Projection, snapshot and position writes made through the same unit
// of work become visible and durable together at Commit(), or not at all: destroying it
// uncommitted (or a crash before Commit returns) leaves none of them.

#include <memory>

#include "streamview/status.h"

namespace streamview {

class UnitOfWork;
namespace detail {
struct ConnectionState;
UnitOfWork BeginUnitOfWork(ConnectionState* state);  // Connection::Begin
}  // namespace detail

class UnitOfWork {
 public:
  UnitOfWork(UnitOfWork&&) noexcept;
  UnitOfWork& operator=(UnitOfWork&&) noexcept;
  ~UnitOfWork();  // rolls back what was not committed

  // After Commit (ok or not) the unit of work is finished.
  Status Commit();
  // Drops every write made through it; the unit of work is finished.
  void Rollback();

  struct Impl;
  Impl* impl() { return impl_.get(); }

 private:
  friend UnitOfWork detail::BeginUnitOfWork(detail::ConnectionState* state);
  explicit UnitOfWork(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamview
