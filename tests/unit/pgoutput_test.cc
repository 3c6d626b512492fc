// The pgoutput decoder and the value mapping of the change-feed source, on messages built here
// byte by byte as the protocol documentation lays them out.

#include "source/pg_changes/pgoutput.h"

#include <gtest/gtest.h>

#include <string>

#include "source/pg_changes/pg_values.h"

namespace sv::source::pg {
namespace {

class Bytes {
 public:
  Bytes& Byte(char c) {
    s_.push_back(c);
    return *this;
  }
  Bytes& Int(uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) s_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return *this;
  }
  Bytes& Str(const std::string& v) {
    s_ += v;
    s_.push_back('\0');
    return *this;
  }
  Bytes& Text(const std::string& v) {
    Byte('t').Int(v.size(), 4);
    s_ += v;
    return *this;
  }
  const std::string& str() const { return s_; }

 private:
  std::string s_;
};

TEST(PgOutputTest, BeginRelationInsertUpdateDeleteCommit) {
  Bytes begin;
  begin.Byte('B').Int(0x16B3748, 8).Int(1'000'000, 8).Int(777, 4);
  absl::StatusOr<Change> b = ParseChange(begin.str());
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->kind, Change::Kind::kBegin);
  EXPECT_EQ(b->xid, 777u);
  EXPECT_EQ(b->commit_time_unix_us, kPgEpochOffsetUs + 1'000'000);

  Bytes rel;
  rel.Byte('R').Int(16384, 4).Str("public").Str("shipments").Byte('d').Int(2, 2);
  rel.Byte(1).Str("id").Int(23, 4).Int(0xffffffff, 4);
  rel.Byte(0).Str("note").Int(25, 4).Int(0xffffffff, 4);
  absl::StatusOr<Change> r = ParseChange(rel.str());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->relation.columns.size(), 2u);
  EXPECT_EQ(r->relation.name, "shipments");
  EXPECT_TRUE(r->relation.columns[0].key);
  EXPECT_FALSE(r->relation.columns[1].key);
  EXPECT_EQ(r->relation.columns[1].type_oid, 25u);

  Bytes insert;
  insert.Byte('I').Int(16384, 4).Byte('N').Int(2, 2).Text("7").Byte('n');
  absl::StatusOr<Change> i = ParseChange(insert.str());
  ASSERT_TRUE(i.ok()) << i.status();
  ASSERT_EQ(i->new_row.size(), 2u);
  EXPECT_EQ(i->new_row[0].text, "7");
  EXPECT_EQ(i->new_row[1].kind, ColumnValue::Kind::kNull);

  // An update whose TOASTed column did not change: 'u', never a NULL.
  Bytes update;
  update.Byte('U').Int(16384, 4).Byte('K').Int(2, 2).Text("7").Byte('n');
  update.Byte('N').Int(2, 2).Text("7").Byte('u');
  absl::StatusOr<Change> u = ParseChange(update.str());
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->old_row.size(), 2u);
  EXPECT_EQ(u->new_row[1].kind, ColumnValue::Kind::kUnchangedToast);

  Bytes del;
  del.Byte('D').Int(16384, 4).Byte('K').Int(2, 2).Text("7").Byte('n');
  absl::StatusOr<Change> d = ParseChange(del.str());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->kind, Change::Kind::kDelete);
  EXPECT_EQ(d->old_row[0].text, "7");

  Bytes commit;
  commit.Byte('C').Byte(0).Int(0x100, 8).Int(0x130, 8).Int(5, 8);
  absl::StatusOr<Change> c = ParseChange(commit.str());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->lsn, 0x100u);
  EXPECT_EQ(c->end_lsn, 0x130u);

  Bytes truncate;
  truncate.Byte('T').Int(2, 4).Byte(0).Int(16384, 4).Int(16390, 4);
  absl::StatusOr<Change> t = ParseChange(truncate.str());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->truncated, (std::vector<uint32_t>{16384, 16390}));
}

// Protocol v2: a transaction streamed while in progress, its changes naming their subtransaction.
TEST(PgOutputTest, StreamedTransactionBlocksCommitAndAbort) {
  Bytes start;
  start.Byte('S').Int(900, 4).Byte(1);
  absl::StatusOr<Change> s = ParseChange(start.str());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->kind, Change::Kind::kStreamStart);
  EXPECT_EQ(s->xid, 900u);
  EXPECT_TRUE(s->first_segment);

  Bytes insert;
  insert.Byte('I').Int(901, 4).Int(16384, 4).Byte('N').Int(1, 2).Text("7");
  absl::StatusOr<Change> i = ParseChange(insert.str(), /*in_stream=*/true);
  ASSERT_TRUE(i.ok()) << i.status();
  EXPECT_EQ(i->kind, Change::Kind::kInsert);
  EXPECT_EQ(i->subxid, 901u);
  EXPECT_EQ(i->relation_id, 16384u);
  ASSERT_EQ(i->new_row.size(), 1u);
  EXPECT_EQ(i->new_row[0].text, "7");
  // Outside a stream block the same bytes do not parse as that insert.
  absl::StatusOr<Change> outside = ParseChange(insert.str());
  EXPECT_TRUE(!outside.ok() || outside->relation_id != 16384u);

  Bytes rel;
  rel.Byte('R').Int(900, 4).Int(16384, 4).Str("public").Str("t").Byte('d').Int(1, 2);
  rel.Byte(1).Str("id").Int(23, 4).Int(0xffffffff, 4);
  absl::StatusOr<Change> r = ParseChange(rel.str(), /*in_stream=*/true);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->relation.name, "t");
  EXPECT_EQ(r->subxid, 900u);

  EXPECT_EQ(ParseChange(Bytes().Byte('E').str())->kind, Change::Kind::kStreamStop);

  Bytes abort;
  abort.Byte('A').Int(900, 4).Int(901, 4);
  absl::StatusOr<Change> a = ParseChange(abort.str());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, Change::Kind::kStreamAbort);
  EXPECT_EQ(a->xid, 900u);
  EXPECT_EQ(a->subxid, 901u);

  Bytes commit;
  commit.Byte('c').Int(900, 4).Byte(0).Int(0x100, 8).Int(0x180, 8).Int(5, 8);
  absl::StatusOr<Change> c = ParseChange(commit.str());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kind, Change::Kind::kStreamCommit);
  EXPECT_EQ(c->xid, 900u);
  EXPECT_EQ(c->lsn, 0x100u);
  EXPECT_EQ(c->end_lsn, 0x180u);
  EXPECT_EQ(c->commit_time_unix_us, kPgEpochOffsetUs + 5);
  EXPECT_FALSE(ParseChange(Bytes().Byte('c').Int(900, 4).str()).ok());
}

TEST(PgOutputTest, TruncatedMessagesAreErrorsNotGarbage) {
  Bytes insert;
  insert.Byte('I').Int(16384, 4).Byte('N').Int(2, 2).Byte('t').Int(100, 4).Str("short");
  EXPECT_FALSE(ParseChange(insert.str()).ok());
  Bytes begin;
  begin.Byte('B').Int(1, 4);
  EXPECT_FALSE(ParseChange(begin.str()).ok());
  EXPECT_FALSE(ParseStreamMessage("x").ok());
}

TEST(PgOutputTest, StreamMessagesAndStandbyStatus) {
  Bytes xlog;
  xlog.Byte('w').Int(10, 8).Int(20, 8).Int(30, 8).Str("payload");
  absl::StatusOr<StreamMessage> m = ParseStreamMessage(xlog.str());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->kind, StreamMessage::Kind::kXLogData);
  EXPECT_EQ(m->wal_end, 20u);
  EXPECT_EQ(m->payload.substr(0, 7), "payload");

  Bytes keepalive;
  keepalive.Byte('k').Int(99, 8).Int(1, 8).Byte(1);
  absl::StatusOr<StreamMessage> k = ParseStreamMessage(keepalive.str());
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_TRUE(k->reply_requested);
  EXPECT_EQ(k->wal_end, 99u);

  const std::string status = StandbyStatus(0x1234, kPgEpochOffsetUs + 5, true);
  ASSERT_EQ(status.size(), 1u + 8 * 4 + 1);
  EXPECT_EQ(status[0], 'r');
  EXPECT_EQ(static_cast<unsigned char>(status[7]), 0x12);  // written, big-endian
  EXPECT_EQ(static_cast<unsigned char>(status[8]), 0x34);
  EXPECT_EQ(status.back(), 1);
}

std::string Json(uint32_t oid, std::string_view text) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  WriteValue(w, oid, text);
  return buf.GetString();
}

TEST(PgValuesTest, TypesMapFaithfully) {
  EXPECT_EQ(Json(23, "42"), "42");
  EXPECT_EQ(Json(20, "-9223372036854775808"), "-9223372036854775808");
  EXPECT_EQ(Json(1700, "12345678901234567890.123456789"), "12345678901234567890.123456789")
      << "numeric keeps its exact digits";
  EXPECT_EQ(Json(1700, "NaN"), "\"NaN\"");
  EXPECT_EQ(Json(701, "Infinity"), "\"Infinity\"");
  EXPECT_EQ(Json(16, "t"), "true");
  EXPECT_EQ(Json(16, "f"), "false");
  EXPECT_EQ(Json(3802, "{\"a\": [1, {\"b\": null}]}"), "{\"a\": [1, {\"b\": null}]}");
  EXPECT_EQ(Json(1184, "2024-03-05 10:00:00.5+00"), "\"2024-03-05T10:00:00.5Z\"");
  EXPECT_EQ(Json(1184, "2024-03-05 10:00:00+05:30"), "\"2024-03-05T10:00:00+05:30\"");
  EXPECT_EQ(Json(1114, "2024-03-05 10:00:00"), "\"2024-03-05T10:00:00Z\"");
  EXPECT_EQ(Json(1009, "{a,\"b c\",NULL,\"q\\\"x\"}"), "[\"a\",\"b c\",null,\"q\\\"x\"]");
  EXPECT_EQ(Json(1007, "{{1,2},{3,4}}"), "[[1,2],[3,4]]");
  EXPECT_EQ(Json(1007, "{}"), "[]");
  EXPECT_EQ(Json(1007, "{1,2"), "\"{1,2\"") << "an array that does not parse stays text";
  EXPECT_EQ(Json(25, "say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(Json(2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");
}

}  // namespace
}  // namespace sv::source::pg
