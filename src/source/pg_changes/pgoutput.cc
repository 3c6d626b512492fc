#include "source/pg_changes/pgoutput.h"

#include "absl/strings/str_cat.h"

namespace sv::source::pg {
namespace {

// Big-endian reads over a message, failing cleanly past its end.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool ok() const { return ok_; }
  bool done() const { return pos_ >= data_.size(); }

  uint64_t Int(int bytes) {
    if (pos_ + static_cast<size_t>(bytes) > data_.size()) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(data_[pos_++]);
    return v;
  }
  char Byte() { return static_cast<char>(Int(1)); }
  // A NUL-terminated string.
  std::string String() {
    const size_t end = data_.find('\0', pos_);
    if (end == std::string_view::npos) {
      ok_ = false;
      return {};
    }
    std::string s(data_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  std::string_view Bytes(size_t n) {
    if (pos_ + n > data_.size()) {
      ok_ = false;
      return {};
    }
    std::string_view s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string_view Rest() { return Bytes(data_.size() - pos_); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

std::vector<ColumnValue> TupleData(Reader& r) {
  const auto n = static_cast<int>(r.Int(2));
  std::vector<ColumnValue> row;
  row.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n && r.ok(); ++i) {
    ColumnValue v;
    switch (r.Byte()) {
      case 'n':
        v.kind = ColumnValue::Kind::kNull;
        break;
      case 'u':
        v.kind = ColumnValue::Kind::kUnchangedToast;
        break;
      case 't':
      case 'b': {
        v.kind = ColumnValue::Kind::kText;
        const auto len = static_cast<size_t>(r.Int(4));
        v.text = std::string(r.Bytes(len));
        break;
      }
      default:
        return {};
    }
    row.push_back(std::move(v));
  }
  return row;
}

absl::Status Malformed(char kind) {
  return absl::DataLossError(
      absl::StrCat("malformed pgoutput message '", std::string(1, kind), "'"));
}

}  // namespace

absl::StatusOr<StreamMessage> ParseStreamMessage(std::string_view data) {
  Reader r(data);
  StreamMessage m;
  const char kind = r.Byte();
  if (kind == 'w') {
    m.kind = StreamMessage::Kind::kXLogData;
    m.wal_start = r.Int(8);
    m.wal_end = r.Int(8);
    m.send_time_us = static_cast<int64_t>(r.Int(8));
    m.payload = r.Rest();
  } else if (kind == 'k') {
    m.kind = StreamMessage::Kind::kKeepalive;
    m.wal_end = r.Int(8);
    m.send_time_us = static_cast<int64_t>(r.Int(8));
    m.reply_requested = r.Byte() != 0;
  } else {
    return absl::DataLossError(
        absl::StrCat("unknown replication message '", std::string(1, kind), "'"));
  }
  if (!r.ok()) return Malformed(kind);
  return m;
}

std::string StandbyStatus(uint64_t flushed, int64_t now_unix_us, bool reply_requested) {
  std::string out(1, 'r');
  auto put = [&out](uint64_t v) {
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  put(flushed);  // written
  put(flushed);  // flushed
  put(flushed);  // applied
  put(static_cast<uint64_t>(now_unix_us - kPgEpochOffsetUs));
  out.push_back(reply_requested ? 1 : 0);
  return out;
}

absl::StatusOr<Change> ParseChange(std::string_view payload, bool in_stream) {
  Reader r(payload);
  Change c;
  const char kind = r.Byte();
  // Inside a stream block, every message that belongs to a transaction names it first.
  if (in_stream && (kind == 'R' || kind == 'I' || kind == 'U' || kind == 'D' || kind == 'T' ||
                    kind == 'M' || kind == 'Y')) {
    c.subxid = static_cast<uint32_t>(r.Int(4));
  }
  switch (kind) {
    case 'S':
      c.kind = Change::Kind::kStreamStart;
      c.xid = static_cast<uint32_t>(r.Int(4));
      c.first_segment = r.Byte() == 1;
      break;
    case 'E':
      c.kind = Change::Kind::kStreamStop;
      break;
    case 'c':
      c.kind = Change::Kind::kStreamCommit;
      c.xid = static_cast<uint32_t>(r.Int(4));
      r.Byte();  // flags
      c.lsn = r.Int(8);
      c.end_lsn = r.Int(8);
      c.commit_time_unix_us = static_cast<int64_t>(r.Int(8)) + kPgEpochOffsetUs;
      break;
    case 'A':
      c.kind = Change::Kind::kStreamAbort;
      c.xid = static_cast<uint32_t>(r.Int(4));
      c.subxid = static_cast<uint32_t>(r.Int(4));
      break;
    case 'B':
      c.kind = Change::Kind::kBegin;
      c.lsn = r.Int(8);
      c.commit_time_unix_us = static_cast<int64_t>(r.Int(8)) + kPgEpochOffsetUs;
      c.xid = static_cast<uint32_t>(r.Int(4));
      break;
    case 'C':
      c.kind = Change::Kind::kCommit;
      r.Byte();  // flags
      c.lsn = r.Int(8);
      c.end_lsn = r.Int(8);
      c.commit_time_unix_us = static_cast<int64_t>(r.Int(8)) + kPgEpochOffsetUs;
      break;
    case 'R': {
      c.kind = Change::Kind::kRelation;
      Relation& rel = c.relation;
      rel.id = static_cast<uint32_t>(r.Int(4));
      rel.schema = r.String();
      rel.name = r.String();
      rel.replica_identity = r.Byte();
      const auto n = static_cast<int>(r.Int(2));
      for (int i = 0; i < n && r.ok(); ++i) {
        RelationColumn col;
        col.key = (r.Byte() & 1) != 0;
        col.name = r.String();
        col.type_oid = static_cast<uint32_t>(r.Int(4));
        r.Int(4);  // type modifier
        rel.columns.push_back(std::move(col));
      }
      c.relation_id = rel.id;
      break;
    }
    case 'I':
      c.kind = Change::Kind::kInsert;
      c.relation_id = static_cast<uint32_t>(r.Int(4));
      if (r.Byte() != 'N') return Malformed(kind);
      c.new_row = TupleData(r);
      break;
    case 'U': {
      c.kind = Change::Kind::kUpdate;
      c.relation_id = static_cast<uint32_t>(r.Int(4));
      char part = r.Byte();
      if (part == 'K' || part == 'O') {
        c.old_row = TupleData(r);
        part = r.Byte();
      }
      if (part != 'N') return Malformed(kind);
      c.new_row = TupleData(r);
      break;
    }
    case 'D': {
      c.kind = Change::Kind::kDelete;
      c.relation_id = static_cast<uint32_t>(r.Int(4));
      const char part = r.Byte();
      if (part != 'K' && part != 'O') return Malformed(kind);
      c.old_row = TupleData(r);
      break;
    }
    case 'T': {
      c.kind = Change::Kind::kTruncate;
      const auto n = static_cast<int>(r.Int(4));
      r.Byte();  // options (CASCADE, RESTART IDENTITY)
      for (int i = 0; i < n && r.ok(); ++i) c.truncated.push_back(static_cast<uint32_t>(r.Int(4)));
      break;
    }
    case 'M': {
      c.kind = Change::Kind::kMessage;
      r.Byte();  // flags: transactional or not
      c.lsn = r.Int(8);
      c.prefix = r.String();
      const auto len = static_cast<size_t>(r.Int(4));
      c.content = std::string(r.Bytes(len));
      break;
    }
    default:
      c.kind = Change::Kind::kOther;  // Origin, Type: nothing a view needs
      return c;
  }
  if (!r.ok()) return Malformed(kind);
  return c;
}

}  // namespace sv::source::pg
