// Connection and UnitOfWork: a store opened through the seam every engine part uses, and a
// unit of work as one store Batch.

#include "streamview/connection.h"

#include <utility>

#include "api/api_internal.h"
#include "store/open.h"

namespace streamview {

Result<std::unique_ptr<Connection>> Connection::Open(const StoreOptions& options) {
  sv::store::StoreOptions store_options;
  if (!options.sqlite_path.empty() && !options.postgres_dsn.empty()) {
    return Invalid("StoreOptions: a SQLite path and a PostgreSQL DSN are both set; set one");
  }
  if (!options.postgres_dsn.empty()) {
    store_options.kind = "postgres";
    store_options.dsn = options.postgres_dsn;
    store_options.schema = options.schema;
    store_options.view_schema = options.view_schema;
  } else if (!options.sqlite_path.empty()) {
    store_options.kind = "sqlite";
    store_options.path = options.sqlite_path;
  } else {
    return Invalid("StoreOptions: set a SQLite path or a PostgreSQL DSN");
  }
  absl::StatusOr<std::unique_ptr<sv::store::Store>> store =
      sv::store::OpenStore(store_options, sv::store::StoreRole::kDurableWriter);
  if (!store.ok()) return FromAbsl(store.status());
  absl::Status init = (*store)->Init();
  if (!init.ok()) return FromAbsl(init);
  auto state = std::make_unique<detail::ConnectionState>();
  state->store = std::move(*store);
  absl::Status snapshots = DefineSnapshots(state.get());
  if (!snapshots.ok()) return FromAbsl(snapshots);
  return std::unique_ptr<Connection>(new Connection(std::move(state)));
}

Connection::Connection(std::unique_ptr<detail::ConnectionState> state)
    : state_(std::move(state)),
      projections_(state_.get()),
      snapshots_(state_.get()),
      positions_(state_.get()) {}

Connection::~Connection() = default;

UnitOfWork Connection::Begin() { return detail::BeginUnitOfWork(state_.get()); }

UnitOfWork detail::BeginUnitOfWork(detail::ConnectionState* state) {
  auto impl = std::make_unique<UnitOfWork::Impl>();
  if (state->uow_open) {
    impl->failed = Status(Code::kFailedPrecondition,
                          "a unit of work is already open on this connection (one at a time)");
    return UnitOfWork(std::move(impl));
  }
  state->uow_open = true;
  impl->state = state;
  impl->batch = state->store->BeginBatch();
  return UnitOfWork(std::move(impl));
}

UnitOfWork::UnitOfWork(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UnitOfWork::UnitOfWork(UnitOfWork&&) noexcept = default;
UnitOfWork& UnitOfWork::operator=(UnitOfWork&&) noexcept = default;
UnitOfWork::~UnitOfWork() = default;  // the batch's destructor rolls back

Status UnitOfWork::Commit() {
  if (impl_ == nullptr || !impl_->failed.ok()) {
    return impl_ == nullptr ? Status(Code::kFailedPrecondition, "unit of work moved from")
                            : impl_->failed;
  }
  if (impl_->batch == nullptr) {
    return Status(Code::kFailedPrecondition, "unit of work already finished");
  }
  absl::Status committed = impl_->batch->Commit();
  Rollback();  // finished: lets the connection open the next one
  return FromAbsl(committed);
}

void UnitOfWork::Rollback() {
  if (impl_ == nullptr) return;
  impl_->batch.reset();
  if (impl_->state != nullptr) impl_->state->uow_open = false;
  impl_->state = nullptr;
}

absl::StatusOr<sv::store::Batch*> BatchOf(UnitOfWork& uow, detail::ConnectionState* state) {
  UnitOfWork::Impl* impl = uow.impl();
  if (impl == nullptr) return absl::FailedPreconditionError("unit of work moved from");
  if (!impl->failed.ok()) return absl::FailedPreconditionError(impl->failed.message());
  if (impl->batch == nullptr) return absl::FailedPreconditionError("unit of work finished");
  if (impl->state != state) {
    return absl::InvalidArgumentError("the unit of work belongs to another connection");
  }
  return impl->batch.get();
}

}  // namespace streamview
