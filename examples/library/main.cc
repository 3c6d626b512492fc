// Order summaries kept by application code with the StreamView library: an event handler
// upserts a projection, records its position and snapshots the aggregate every 3 events, all
// in one unit of work; a replayed event is skipped and a stale writer gets a conflict.
//
// Usage: library_example <sqlite file> | library_example --postgres <libpq connection string>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "streamview/streamview.h"

namespace sv = streamview;

namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "library_example: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--postgres") {
  } else if (argc != 2) {
    return Fail("usage: library_example <sqlite file> | --postgres <dsn>");
  }
  const sv::StoreOptions options =
      argc == 3 ? sv::StoreOptions::Postgres(argv[2]) : sv::StoreOptions::Sqlite(argv[1]);
  sv::Result<std::unique_ptr<sv::Connection>> opened = sv::Connection::Open(options);
  if (!opened.ok()) return Fail(opened.status().message());
  sv::Connection& db = **opened;

  sv::CollectionSpec orders{"order_summaries",
                            {{"customer_id", sv::ColumnType::kText},
                             {"order_id", sv::ColumnType::kText},
                             {"status", sv::ColumnType::kText},
                             {"total", sv::ColumnType::kReal}},
                            {"customer_id", "order_id"},  // a composite key
                            {{"status"}}};
  if (sv::Status s = db.projections().Define(orders); !s.ok()) return Fail(s.message());

  const auto policy = sv::SnapshotPolicy::EveryNEvents(3);
  const char* statuses[] = {"pending", "paid", "packed", "shipped"};
  for (int64_t seq = 1; seq <= 4; ++seq) {
    sv::UnitOfWork uow = db.Begin();
    sv::WriteOptions write;
    write.event_id = "order-1/" + std::to_string(seq);
    sv::Result<sv::WriteResult> r =
        db.projections().Upsert(uow, "order_summaries",
                                {{"customer_id", std::string("c-7")},
                                 {"order_id", std::string("order-1")},
                                 {"status", std::string(statuses[seq - 1])},
                                 {"total", 99.5}},
                                write);
    if (!r.ok()) return Fail(r.status().message());
    if (!r->written()) return Fail("event " + write.event_id + " was not written");
    if (policy.ShouldSnapshot(seq - 1, seq)) {
      sv::Result<bool> saved = db.snapshots().Save(
          uow,
          {"Order", "order-1", seq, "{\"status\":\"" + std::string(statuses[seq - 1]) + "\"}"});
      if (!saved.ok()) return Fail(saved.status().message());
    }
    if (sv::Status s = db.positions().Save(uow, "OrderSummaries", seq); !s.ok()) {
      return Fail(s.message());
    }
    if (sv::Status s = uow.Commit(); !s.ok()) return Fail(s.message());
  }

  // The same event again: skipped, nothing written.
  sv::WriteOptions replay;
  replay.event_id = "order-1/2";
  sv::Result<sv::WriteResult> again = db.projections().Upsert(
      "order_summaries",
      {{"customer_id", std::string("c-7")}, {"order_id", std::string("order-1")}}, replay);
  if (!again.ok() || !again->already_applied()) return Fail("a replayed event was not skipped");

  // A writer that read version 1 loses to the four writes since.
  sv::WriteOptions stale;
  stale.expected_version = 1;
  sv::Result<sv::WriteResult> conflict = db.projections().Upsert(
      "order_summaries",
      {{"customer_id", std::string("c-7")}, {"order_id", std::string("order-1")}}, stale);
  if (!conflict.ok() || !conflict->conflict() || conflict->version != 4) {
    return Fail("a stale write did not get a conflict at version 4");
  }

  sv::Result<std::optional<sv::Projection>> row =
      db.projections().Get("order_summaries", {std::string("c-7"), std::string("order-1")});
  sv::Result<std::optional<sv::Snapshot>> snapshot = db.snapshots().Load("Order", "order-1");
  sv::Result<std::optional<int64_t>> position = db.positions().Get("OrderSummaries");
  if (!row.ok() || !*row || !snapshot.ok() || !*snapshot || !position.ok() || !*position) {
    return Fail("reading back failed");
  }
  const std::string status = std::get<std::string>((*row)->doc.at("status"));
  std::printf("order-1: status %s, version %lld, last event %s; snapshot at %lld; position %lld\n",
              status.c_str(), static_cast<long long>((*row)->version),
              (*row)->last_event_id.c_str(), static_cast<long long>((*snapshot)->version),
              static_cast<long long>(**position));
  if (status != "shipped" || (*row)->version != 4 || (*snapshot)->version != 3 || **position != 4) {
    return Fail("unexpected state");
  }
  std::printf("ok\n");
  return 0;
}
