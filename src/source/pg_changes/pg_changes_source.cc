// The change-feed source's stream: START_REPLICATION's CopyData messages assembled into whole
// transactions, handed to the engine a transaction at a time, acknowledged after its commit.

#include "source/pg_changes/pg_changes_source.h"

#include <sys/select.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "rapidjson/stringbuffer.h"
#include "source/pg_changes/pg_changes_internal.h"
#include "source/pg_changes/pg_values.h"

namespace sv::source {

std::unique_ptr<Source> NewPgChangesSource(const PgChangesOptions& options) {
  return std::make_unique<pg::PgChangesSource>(options);
}

namespace pg {
namespace {

// The server drops a walsender that says nothing for wal_sender_timeout (60 s by default).
constexpr int64_t kStatusIntervalUs = 10'000'000;
// The least time between two barrier messages.
constexpr int64_t kReaskUs = 50'000;
// How often the slot's lag and health are read from the server.
constexpr int64_t kSlotCheckUs = 5'000'000;
// The prefix of the messages that tell the stream has delivered everything (see
// AskWhereTheServerStands).
constexpr char kBarrierPrefix[] = "streamview.barrier";

}  // namespace

absl::Status PgChangesSource::Seek(const std::map<int32_t, int64_t>& after) {
  streaming_ = false;
  barrier_.clear();
  asked_at_us_ = 0;
  confirmed_ = false;
  end_known_ = 0;
  ready_.clear();
  open_.reset();
  streamed_.clear();
  in_stream_ = false;
  snapshot_.clear();
  unapplied_.clear();
  upstream_ = {};
  slot_checked_us_ = 0;
  SV_RETURN_IF_ERROR(Connect());
  const auto stored = after.find(0);
  if (stored == after.end() || stored->second <= 0) {
    SV_ASSIGN_OR_RETURN(const uint64_t consistent, CreateSlotAndSnapshot());
    resume_after_ = consistent;
    acked_ = 0;
    emitted_end_ = consistent;
    SV_RETURN_IF_ERROR(StartStreaming(consistent));
    return AskWhereTheServerStands();
  }
  resume_after_ = static_cast<uint64_t>(stored->second);
  SV_ASSIGN_OR_RETURN(const SlotState slot, ReadSlot());
  SV_RETURN_IF_ERROR(CheckSlotFollows(slot, resume_after_));
  acked_ = resume_after_;
  emitted_end_ = resume_after_;
  SV_RETURN_IF_ERROR(StartStreaming(resume_after_));
  return AskWhereTheServerStands();
}

uint64_t PgChangesSource::HeldEnd() const {
  uint64_t end = emitted_end_;
  for (const ReadyTx& tx : ready_) end = std::max(end, tx.end);
  return end;
}

absl::Status PgChangesSource::SendBarrier(bool caught_up_check) {
  // A message written into the source's WAL now comes back through the stream after every
  // transaction committed before it: when it arrives, we hold everything there was.
  // Unique across runs: a barrier an earlier (killed) run wrote may still be in the stream.
  barrier_ = absl::StrCat(options_.slot, "/", getpid(), "/", options_.clock->NowMicros(), "/",
                          ++barriers_sent_);
  asked_at_us_ = options_.clock->NowMicros();
  barrier_is_heartbeat_ = !caught_up_check;
  if (caught_up_check) end_known_ = std::max(end_known_, HeldEnd() + 1);
  return session_.Query("SELECT pg_logical_emit_message(false, $1, $2)", {kBarrierPrefix, barrier_})
      .status();
}

absl::Status PgChangesSource::Poll(size_t max, int timeout_ms, std::vector<SourceRecord>* out) {
  out->clear();
  if (!streaming_) return absl::FailedPreconditionError("the change feed is not started (Seek)");
  if (!snapshot_.empty()) {
    // The snapshot goes in one batch: nothing of it is committed unless all of it is.
    *out = std::move(snapshot_);
    snapshot_.clear();
    return absl::OkStatus();
  }
  size_t buffered = 0;
  for (const ReadyTx& tx : ready_) buffered += static_cast<size_t>(tx.kept - tx.handed);
  if (buffered < max) {
    absl::Status s = ReadStream(max - buffered, timeout_ms);
    if (!s.ok()) {
      streaming_ = false;
      broken_ = std::string(s.message());
      return s;
    }
  }
  // Drained after data: find out whether the server has more (at most every kReaskUs). Idle:
  // a heartbeat now and then, so the slot's flush can pass WAL that is not ours.
  const int64_t since_asked = options_.clock->NowMicros() - asked_at_us_;
  if (ready_.empty() && open_ == nullptr && barrier_.empty()) {
    if (heartbeat_soon_) {
      // Someone waits for the position to pass a point of the server's: a heartbeat now,
      // written after that point, comes back as a record past it.
      heartbeat_soon_ = false;
      SV_RETURN_IF_ERROR(SendBarrier(/*caught_up_check=*/false));
    } else if (!confirmed_ && since_asked > kReaskUs) {
      SV_RETURN_IF_ERROR(AskWhereTheServerStands());
    } else if (confirmed_ && options_.heartbeat_us > 0 && since_asked > options_.heartbeat_us) {
      SV_RETURN_IF_ERROR(SendBarrier(/*caught_up_check=*/false));
    }
  }
  if (options_.clock->NowMicros() - slot_checked_us_ >= kSlotCheckUs) CheckSlotNow();
  SV_RETURN_IF_ERROR(HandOver(max, out));
  return SendStatus(FlushPosition(), /*force=*/false);
}

absl::Status PgChangesSource::HandOver(size_t max, std::vector<SourceRecord>* out) {
  while (!ready_.empty() && out->size() < max) {
    ReadyTx& tx = ready_.front();
    const size_t before = out->size();
    SV_RETURN_IF_ERROR(tx.records->Next(max - out->size(), out).status());
    for (size_t i = before; i < out->size(); ++i) {
      SourceRecord& r = (*out)[i];
      r.offset = static_cast<int64_t>(tx.end) - (tx.kept - 1 - tx.handed++);
      r.log_time_us = tx.commit_time_us;
      r.headers.emplace_back("lsn", tx.lsn);
    }
    if (tx.handed < tx.kept) {
      // The rest comes in the next Poll: the engine keeps its store transaction open till then.
      out->back().continues = true;
      return absl::OkStatus();
    }
    emitted_end_ = tx.end;
    ready_.pop_front();
  }
  return absl::OkStatus();
}

absl::Status PgChangesSource::ReadStream(size_t want, int timeout_ms) {
  size_t got = 0;
  bool waited = false;
  while (true) {
    char* buf = nullptr;
    const int n = PQgetCopyData(stream_.raw(), &buf, /*async=*/1);
    if (n > 0) {
      const std::string data(buf, static_cast<size_t>(n));
      PQfreemem(buf);
      SV_ASSIGN_OR_RETURN(StreamMessage m, ParseStreamMessage(data));
      server_wal_end_ = std::max(server_wal_end_, m.wal_end);
      if (m.kind == StreamMessage::Kind::kKeepalive) {
        if (m.reply_requested) SV_RETURN_IF_ERROR(SendStatus(FlushPosition(), /*force=*/true));
        continue;
      }
      SV_ASSIGN_OR_RETURN(Change change, ParseChange(m.payload, in_stream_));
      if (change.kind == Change::Kind::kMessage && !in_stream_) {
        if (change.prefix == kBarrierPrefix && change.content == barrier_ && open_ == nullptr) {
          // Everything committed before the barrier has arrived: the end is what we hold.
          barrier_.clear();
          if (barrier_is_heartbeat_) {
            // Nothing of ours lies between what we hold and the barrier: a record there lets
            // the engine store (and then the slot forget) that position, after everything
            // before it is committed; WAL of other tables is not pinned for us.
            ReadyTx tx;
            tx.records = NewSpool();
            tx.end = std::max(change.lsn, HeldEnd() + 1);
            SourceRecord marker = MarkerRecord(kHeartbeatType, tx.end);
            tx.commit_time_us = marker.log_time_us;
            tx.lsn = FormatLsn(tx.end);
            SV_RETURN_IF_ERROR(tx.records->Add(0, std::move(marker)));
            tx.kept = 1;
            ready_.push_back(std::move(tx));
            ++got;
          }
          end_known_ = HeldEnd();
          confirmed_ = true;
        }
        continue;
      }
      // More may follow what we hold until a barrier says otherwise (an XLogData's WAL end is
      // its own record's position, not the server's end: no bound on what is still coming).
      confirmed_ = false;
      const size_t before = ready_.size();
      SV_RETURN_IF_ERROR(Handle(change));
      if (ready_.size() > before) got += static_cast<size_t>(ready_.back().kept);
      if (got >= want) return absl::OkStatus();
      continue;
    }
    // An ended stream (the server shutting down or restarting, the walsender terminated) is
    // transient: Unavailable, so the engine reconnects with backoff; a slot lost meanwhile is
    // found by the Seek that resumes.
    if (n == -1) {
      Result r(PQgetResult(stream_.raw()));
      return absl::UnavailableError(
          stream_.Error(r.get(), "the replication stream ended").message());
    }
    if (n < -1) {
      return absl::UnavailableError(
          stream_.Error(nullptr, "the replication stream failed").message());
    }
    // Nothing buffered: hand over what came, or read the socket once (waiting up to the
    // timeout for it to have something) and look again.
    if (got > 0 || waited) return absl::OkStatus();
    waited = true;
    if (timeout_ms > 0) {
      const int fd = PQsocket(stream_.raw());
      fd_set set;
      FD_ZERO(&set);
      FD_SET(fd, &set);
      timeval tv{timeout_ms / 1000, static_cast<suseconds_t>(timeout_ms % 1000) * 1000};
      (void)select(fd + 1, &set, nullptr, nullptr, &tv);
    }
    if (PQconsumeInput(stream_.raw()) == 0) {
      return stream_.Error(nullptr, "reading the replication stream");
    }
  }
}

const TableInfo* PgChangesSource::TableOf(const Relation& rel) const {
  auto it = tables_.find(absl::StrCat(rel.schema, ".", rel.name));
  return it == tables_.end() ? nullptr : &it->second;
}

SourceRecord PgChangesSource::RowRecord(const Relation& rel, std::string_view op, uint32_t xid,
                                        const std::vector<ColumnValue>& row,
                                        const std::vector<ColumnValue>* old_row) {
  const TableInfo* table = TableOf(rel);
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  std::vector<std::string> unchanged;
  for (size_t c = 0; c < rel.columns.size() && c < row.size(); ++c) {
    const ColumnValue* v = &row[c];
    if (v->kind == ColumnValue::Kind::kUnchangedToast) {
      // An unchanged TOASTed value is not resent: the old row has it under REPLICA IDENTITY
      // FULL; otherwise the field is left out and listed, so a view column copying it keeps
      // its value rather than turning NULL.
      if (old_row != nullptr && c < old_row->size() &&
          (*old_row)[c].kind == ColumnValue::Kind::kText) {
        v = &(*old_row)[c];
      } else {
        unchanged.push_back(rel.columns[c].name);
        continue;
      }
    }
    w.Key(rel.columns[c].name.c_str());
    if (v->kind == ColumnValue::Kind::kNull) {
      w.Null();
    } else {
      WriteValue(w, rel.columns[c].type_oid, v->text);
    }
  }
  w.EndObject();
  std::vector<std::string> key;
  if (table != nullptr) {
    for (const std::string& k : table->key_columns) {
      for (size_t c = 0; c < rel.columns.size() && c < row.size(); ++c) {
        if (rel.columns[c].name == k) key.push_back(row[c].text);
      }
    }
  }
  SourceRecord rec;
  rec.partition = 0;
  rec.value = buf.GetString();
  rec.key = absl::StrJoin(key, "|");
  rec.routing_key = *rec.key;
  const std::string& name = table != nullptr ? table->configured : rel.name;
  // Room for the `lsn` header added at hand-over (and `sv-unchanged`): one allocation.
  rec.headers.reserve(4);
  rec.headers.emplace_back("sv-type",
                           absl::StrCat(name, ".", absl::string_view(op.data(), op.size())));
  rec.headers.emplace_back("xid", std::to_string(xid));
  if (!unchanged.empty()) rec.headers.emplace_back("sv-unchanged", absl::StrJoin(unchanged, ","));
  return rec;
}

const Relation* PgChangesSource::RelationFor(uint32_t id) const {
  if (in_stream_) {
    auto tx = streamed_.find(stream_xid_);
    if (tx != streamed_.end()) {
      auto rel = tx->second.relations.find(id);
      if (rel != tx->second.relations.end()) return &rel->second;
    }
  }
  auto rel = relations_.find(id);
  return rel == relations_.end() ? nullptr : &rel->second;
}

TxSpool* PgChangesSource::SpoolFor() {
  if (in_stream_) {
    StreamedTx& tx = streamed_[stream_xid_];
    if (tx.records == nullptr) tx.records = NewSpool();
    return tx.records.get();
  }
  if (open_ == nullptr) open_ = NewSpool();  // a change outside Begin .. Commit: kept all the same
  return open_.get();
}

void PgChangesSource::Committed(std::unique_ptr<TxSpool> records, const Change& commit) {
  // Replayed after a restart: applied already.
  if (records == nullptr || records->Kept() == 0 || commit.end_lsn <= resume_after_) return;
  ReadyTx tx;
  tx.records = std::move(records);
  tx.end = commit.end_lsn;
  tx.commit_time_us = commit.commit_time_unix_us;
  tx.lsn = FormatLsn(commit.lsn);
  tx.kept = tx.records->Kept();
  unapplied_.emplace_back(tx.end, tx.commit_time_us);
  ready_.push_back(std::move(tx));
}

absl::Status PgChangesSource::Handle(const Change& change) {
  // The transaction a change belongs to: inside a stream block, the subtransaction named by the
  // change (its rows go if it is rolled back) within the streamed one; else the open one.
  const uint32_t xid = in_stream_ ? stream_xid_ : open_xid_;
  const uint32_t subxid = in_stream_ ? change.subxid : open_xid_;
  switch (change.kind) {
    case Change::Kind::kBegin:
      open_ = NewSpool();
      open_xid_ = change.xid;
      return absl::OkStatus();
    case Change::Kind::kStreamStart:
      in_stream_ = true;
      stream_xid_ = change.xid;
      // A first segment starts the transaction afresh (after a reconnect, it is streamed again).
      if (change.first_segment) streamed_.erase(change.xid);
      return absl::OkStatus();
    case Change::Kind::kStreamStop:
      in_stream_ = false;
      return absl::OkStatus();
    case Change::Kind::kStreamAbort: {
      auto tx = streamed_.find(change.xid);
      if (tx == streamed_.end()) return absl::OkStatus();
      if (change.subxid == change.xid) {
        streamed_.erase(tx);
      } else if (tx->second.records != nullptr) {
        tx->second.records->Abort(change.subxid);
      }
      return absl::OkStatus();
    }
    case Change::Kind::kStreamCommit: {
      auto tx = streamed_.find(change.xid);
      if (tx == streamed_.end()) return absl::OkStatus();
      // Its table definitions are everyone's now.
      for (auto& [id, rel] : tx->second.relations) relations_[id] = std::move(rel);
      std::unique_ptr<TxSpool> records = std::move(tx->second.records);
      streamed_.erase(tx);
      Committed(std::move(records), change);
      return absl::OkStatus();
    }
    case Change::Kind::kRelation:
      // Sent before the first change that uses a (new or altered) table definition: a column
      // added, dropped or retyped is read from here on, while running.
      if (in_stream_) {
        streamed_[stream_xid_].relations[change.relation_id] = change.relation;
      } else {
        relations_[change.relation_id] = change.relation;
      }
      return absl::OkStatus();
    case Change::Kind::kInsert:
    case Change::Kind::kUpdate:
    case Change::Kind::kDelete: {
      const Relation* rel = RelationFor(change.relation_id);
      if (rel == nullptr) {
        return absl::DataLossError(absl::StrCat("a change of relation ", change.relation_id,
                                                " came before its definition"));
      }
      SourceRecord rec =
          change.kind == Change::Kind::kDelete
              ? RowRecord(*rel, "delete", xid, change.old_row)
              : RowRecord(*rel, change.kind == Change::Kind::kInsert ? "insert" : "update", xid,
                          change.new_row, &change.old_row);
      return SpoolFor()->Add(subxid, std::move(rec));
    }
    case Change::Kind::kTruncate:
      for (uint32_t id : change.truncated) {
        const Relation* rel = RelationFor(id);
        if (rel == nullptr) continue;
        SourceRecord rec = RowRecord(*rel, "truncate", xid, {});
        rec.key = "";
        rec.routing_key = "";
        const TableInfo* table = TableOf(*rel);
        rec.headers.emplace_back(kTruncateHeader, table != nullptr ? table->configured : rel->name);
        SV_RETURN_IF_ERROR(SpoolFor()->Add(subxid, std::move(rec)));
      }
      return absl::OkStatus();
    case Change::Kind::kCommit:
      Committed(std::move(open_), change);
      open_.reset();
      return absl::OkStatus();
    case Change::Kind::kMessage:  // barriers are read in ReadStream; others are not ours
    case Change::Kind::kOther:
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status PgChangesSource::SendStatus(uint64_t flushed, bool force, bool reply_requested) {
  const int64_t now = options_.clock->NowMicros();
  if (!force && now - last_status_us_ < kStatusIntervalUs) return absl::OkStatus();
  const std::string msg = StandbyStatus(flushed, now, reply_requested);
  if (PQputCopyData(stream_.raw(), msg.data(), static_cast<int>(msg.size())) != 1 ||
      PQflush(stream_.raw()) != 0) {
    return stream_.Error(nullptr, "acknowledging the replication stream");
  }
  last_status_us_ = now;
  return absl::OkStatus();
}

void PgChangesSource::AfterCommit(const std::map<int32_t, int64_t>& positions,
                                  const std::vector<store::DeadLetter>& /*dead_letters*/) {
  auto it = positions.find(0);
  if (it == positions.end() || !streaming_) return;
  // The flush position moves only now, after the engine's commit: a crash before it resumes
  // from the stored position, and the server keeps the WAL for it.
  acked_ = std::max(acked_, static_cast<uint64_t>(it->second));
  while (!unapplied_.empty() && unapplied_.front().first <= acked_) unapplied_.pop_front();
  (void)SendStatus(FlushPosition(), /*force=*/true);
}

absl::StatusOr<std::map<int32_t, int64_t>> PgChangesSource::EndOffsets() {
  // Only a barrier that came back after the last data says we hold everything: until then the
  // end is past what we hold, so a caller at that position is not caught up.
  const uint64_t end = confirmed_ ? end_known_ : std::max(end_known_, HeldEnd() + 1);
  return std::map<int32_t, int64_t>{{0, static_cast<int64_t>(end)}};
}

namespace {

// A change feed keeps no history: its replay is a new snapshot, read as the rebuild goes (one
// page at a time, so the rows never wait in memory as records).
class SnapshotReplay final : public ReplayReader {
 public:
  explicit SnapshotReplay(PgChangesSource* source) : source_(source) {}
  // The snapshot holds exactly the transactions whose commit record lies before its
  // consistent point (those after it are what a slot made there decodes): a live record's
  // `lsn` header is its transaction's commit LSN, whatever the record's own position.
  bool Holds(const SourceRecord& live) const override {
    for (const auto& [name, value] : live.headers) {
      if (name != "lsn") continue;
      const std::optional<uint64_t> commit = ParseLsn(value);
      return commit.has_value() && *commit < source_->consistent_point();
    }
    return live.offset <= static_cast<int64_t>(source_->consistent_point());
  }
  absl::Status Next(size_t max, std::vector<SourceRecord>* out) override {
    out->clear();
    if (done_) return absl::OkStatus();
    return source_->ReadSnapshot(max, out, &done_);
  }
  std::map<int32_t, int64_t> Ends() const override {
    return {{0, static_cast<int64_t>(source_->consistent_point())}};
  }
  int64_t EstimatedRecords() const override { return source_->snapshot_estimate(); }
  absl::StatusOr<std::optional<SourceRecord>> SnapshotRowOf(const SourceRecord& live) override {
    return source_->SnapshotRowOf(live);
  }
  std::vector<std::string> FilteredTables() const override { return source_->filtered_tables(); }

 private:
  PgChangesSource* source_;
  bool done_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ReplayReader>> PgChangesSource::OpenReplay(
    const std::optional<std::map<int32_t, int64_t>>& until, bool /*allow_partial*/) {
  if (until.has_value()) {
    // A snapshot is of now: views rebuilt from it cannot stop where the others are.
    return absl::FailedPreconditionError(absl::StrCat(
        "source '", options_.source_name,
        "' is a change feed: its views are re-snapshotted together (rebuild all of them)"));
  }
  streaming_ = false;
  SV_RETURN_IF_ERROR(Connect());
  // The slot stays; the rebuilt views resume from its consistent point (stored with them).
  SV_RETURN_IF_ERROR(CreateSlotWithSnapshot().status());
  return std::make_unique<SnapshotReplay>(this);
}

absl::StatusOr<std::unique_ptr<ReplayReader>> PgChangesSource::OpenSnapshotBeside(
    const SnapshotFilter& filter) {
  streaming_ = false;
  filter_ = filter;
  SV_RETURN_IF_ERROR(Connect());
  // A slot of its own, dropped by the server with this connection: the live slot (and its
  // consumer) are left alone. Slot names are the cluster's: unique per process and moment.
  static std::atomic<int64_t> made{0};
  const std::string slot =
      absl::StrCat("sv_snapshot_", getpid(), "_", options_.clock->NowMicros(), "_", ++made);
  SV_RETURN_IF_ERROR(ExportSnapshot(slot, /*temporary=*/true).status());
  return std::make_unique<SnapshotReplay>(this);
}

void PgChangesSource::CheckSlotNow() {
  slot_checked_us_ = options_.clock->NowMicros();
  absl::StatusOr<SlotState> slot = ReadSlot();
  if (!slot.ok() && absl::IsUnavailable(slot.status())) return;  // down: Connected says so
  upstream_.known = true;
  // The same checks as a resume's, against what is committed now.
  absl::Status follows =
      slot.ok() ? CheckSlotFollows(*slot, std::max(acked_, resume_after_)) : slot.status();
  upstream_.problem = std::string(follows.message());
  if (slot.ok()) upstream_.lag_bytes = slot->lag_bytes;
}

UpstreamStatus PgChangesSource::Upstream() const {
  UpstreamStatus status = upstream_;
  if (!unapplied_.empty()) {
    status.lag_seconds = std::max(
        0.0, static_cast<double>(options_.clock->NowMicros() - unapplied_.front().second) / 1e6);
  }
  return status;
}

bool PgChangesSource::Connected(std::string* why) const {
  if (streaming_ && stream_.ok()) return true;
  *why = broken_.empty() ? "not connected to the source database" : broken_;
  return false;
}

}  // namespace pg
}  // namespace sv::source
