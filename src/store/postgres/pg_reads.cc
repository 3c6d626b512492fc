// The PostgreSQL backend: reads (rows, positions, key states, pending events, dead letters,
// queries).

#include <algorithm>

#include "common/json_value.h"
#include "store/postgres/pg_store_internal.h"

namespace sv::store::pg_impl {
namespace {

// Reads a binary result field of a column declared `declared`.
bool ReadField(const PGresult* r, int row, int col, Type declared, Value* out) {
  if (PQgetisnull(r, row, col)) {
    *out = Value::Null();
    return true;
  }
  const char* p = PQgetvalue(r, row, col);
  const int len = PQgetlength(r, row, col);
  switch (declared) {
    case Type::kInt:
      if (len != 8) return false;
      *out = Value::Int(pg::ReadInt64(p));
      return true;
    case Type::kReal:
      if (len != 8) return false;
      *out = Value::Real(pg::ReadFloat64(p));
      return true;
    case Type::kBool:
      if (len != 1) return false;
      *out = Value::Bool(p[0] != 0);
      return true;
    case Type::kTime:
      if (len != 8) return false;
      *out = Value::Time(pg::ReadInt64(p) + kPgEpochOffsetUs);
      return true;
    case Type::kInterval:
      if (len != 8) return false;
      *out = Value::Interval(pg::ReadInt64(p));
      return true;
    case Type::kJson: {  // jsonb's binary form: a version byte (1), then the text
      if (len < 1 || p[0] != 1) return false;
      absl::StatusOr<std::string> json = CanonicalJson(std::string_view(p + 1, len - 1));
      if (!json.ok()) return false;
      *out = Value::Json(*std::move(json));
      return true;
    }
    case Type::kText:
    case Type::kNull:
      *out = Value::Text(std::string(p, len));
      return true;
  }
  return false;
}

}  // namespace

// ---- Reads

// Keys per statement of a batched read: well under the protocol's 65,535 parameters for any
// key width, and a list the planner still turns into one index scan.
constexpr size_t kKeysPerRead = 1000;

absl::Status PgStore::ReadRow(const PGresult* r, int row, const TableSpec& table, Row* out) {
  out->resize(table.columns.size());
  for (size_t c = 0; c < table.columns.size(); ++c) {
    if (!ReadField(r, row, static_cast<int>(c), table.columns[c].type, &(*out)[c])) {
      return absl::DataLossError(absl::StrCat("postgres: ", table.name, ".", table.columns[c].name,
                                              ": unexpected binary value of ",
                                              PQgetlength(r, row, static_cast<int>(c)),
                                              " bytes for type ", SqlType(table.columns[c].type)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Row>> PgStore::GetRow(const TableSpec& table, const Row& key) {
  if (key.size() != table.key.size()) {
    return absl::InvalidArgumentError(absl::StrCat("postgres: get from ", table.name, ": key has ",
                                                   key.size(), " values, table key has ",
                                                   table.key.size()));
  }
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  Params params;
  const std::string where = KeyMatch(
      table, [&](size_t i, int) -> const Value& { return key[i]; }, &params);
  SV_ASSIGN_OR_RETURN(Result r, Query(absl::StrCat("SELECT ", ColumnList(table), " FROM ",
                                                   ViewTable(table.name), " WHERE ", where),
                                      params));
  if (PQntuples(r.get()) == 0) return std::optional<Row>();
  Row row;
  SV_RETURN_IF_ERROR(ReadRow(r.get(), 0, table, &row));
  return std::optional<Row>(std::move(row));
}

absl::StatusOr<std::vector<Row>> PgStore::GetRows(const TableSpec& table,
                                                  const std::vector<Row>& keys) {
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  std::vector<Row> found;
  // A key with a NULL value is matched with IS NULL, which an IN list cannot say: read alone.
  std::vector<const Row*> listed;
  for (const Row& key : keys) {
    if (key.size() != table.key.size()) {
      return absl::InvalidArgumentError(absl::StrCat("postgres: get from ", table.name,
                                                     ": key has ", key.size(),
                                                     " values, table key has ", table.key.size()));
    }
    if (std::any_of(key.begin(), key.end(), [](const Value& v) { return v.is_null(); })) {
      SV_ASSIGN_OR_RETURN(std::optional<Row> row, GetRow(table, key));
      if (row) found.push_back(*std::move(row));
    } else {
      listed.push_back(&key);
    }
  }
  std::string key_columns;
  for (size_t i = 0; i < table.key.size(); ++i) {
    absl::StrAppend(&key_columns, i > 0 ? ", " : "", QuoteIdent(table.columns[table.key[i]].name));
  }
  const bool composite = table.key.size() > 1;
  for (size_t start = 0; start < listed.size(); start += kKeysPerRead) {
    const size_t end = std::min(listed.size(), start + kKeysPerRead);
    Params params;
    std::string in;
    for (size_t n = start; n < end; ++n) {
      absl::StrAppend(&in, n > start ? ", " : "", composite ? "(" : "");
      for (size_t i = 0; i < table.key.size(); ++i) {
        params.push_back(Param((*listed[n])[i], table.columns[table.key[i]].type));
        absl::StrAppend(&in, i > 0 ? ", $" : "$", params.size());
      }
      if (composite) in += ")";
    }
    SV_ASSIGN_OR_RETURN(
        Result r, Query(absl::StrCat("SELECT ", ColumnList(table), " FROM ", ViewTable(table.name),
                                     " WHERE (", key_columns, ") IN (", in, ")"),
                        params));
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      SV_RETURN_IF_ERROR(ReadRow(r.get(), i, table, &found.emplace_back()));
    }
  }
  return found;
}

absl::StatusOr<std::vector<KeyState>> PgStore::GetKeyStates(const std::string& source,
                                                            const std::vector<std::string>& keys) {
  std::vector<KeyState> found;
  for (size_t start = 0; start < keys.size(); start += kKeysPerRead) {
    const size_t end = std::min(keys.size(), start + kKeysPerRead);
    Params params{source};
    std::string in;
    for (size_t n = start; n < end; ++n) {
      params.push_back(keys[n]);
      absl::StrAppend(&in, n > start ? ", $" : "$", params.size());
    }
    SV_ASSIGN_OR_RETURN(
        Result r, Query(absl::StrCat("SELECT key, last_sequence, parked_on FROM ",
                                     Engine("sv_keys"), " WHERE source = $1 AND key IN (", in, ")"),
                        params));
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      KeyState& state = found.emplace_back();
      state.key = Text(r.get(), i, 0);
      SV_ASSIGN_OR_RETURN(state.last_sequence, Int64(r.get(), i, 1));
      SV_ASSIGN_OR_RETURN(state.parked_on, Int64(r.get(), i, 2));
    }
  }
  return found;
}

absl::StatusOr<std::optional<KeyState>> PgStore::GetKeyState(const std::string& source,
                                                             const std::string& key) {
  SV_ASSIGN_OR_RETURN(Result r,
                      Query(absl::StrCat("SELECT last_sequence, parked_on FROM ", Engine("sv_keys"),
                                         " WHERE source = $1 AND key = $2"),
                            {source, key}));
  if (PQntuples(r.get()) == 0) return std::optional<KeyState>();
  KeyState state;
  state.key = key;
  SV_ASSIGN_OR_RETURN(state.last_sequence, Int64(r.get(), 0, 0));
  SV_ASSIGN_OR_RETURN(state.parked_on, Int64(r.get(), 0, 1));
  return std::optional<KeyState>(std::move(state));
}

absl::StatusOr<std::vector<std::string>> PgStore::ListParkedKeys(const std::string& source) {
  SV_ASSIGN_OR_RETURN(Result r, Query(absl::StrCat("SELECT key FROM ", Engine("sv_keys"),
                                                   " WHERE source = $1 AND parked_on != 0"),
                                      {source}));
  std::vector<std::string> out;
  out.reserve(PQntuples(r.get()));
  for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(Text(r.get(), i, 0));
  return out;
}

absl::StatusOr<std::vector<PendingEvent>> PgStore::ReadPending(const PGresult* r) {
  std::vector<PendingEvent> out;
  for (int i = 0; i < PQntuples(r); ++i) {
    PendingEvent& e = out.emplace_back();
    e.key = Text(r, i, 0);
    SV_ASSIGN_OR_RETURN(e.partition, Int32(r, i, 1));
    SV_ASSIGN_OR_RETURN(e.position, Int64(r, i, 2));
    SV_ASSIGN_OR_RETURN(e.sequence, Int64(r, i, 3));
    SV_ASSIGN_OR_RETURN(e.log_time_us, Int64(r, i, 4));
    e.held = Bool(r, i, 5);
    e.raw = Text(r, i, 6);
  }
  return out;
}

absl::StatusOr<std::vector<PendingEvent>> PgStore::GetPending(const std::string& source,
                                                              const std::string& key) {
  SV_ASSIGN_OR_RETURN(
      Result r, Query(absl::StrCat("SELECT " SV_PENDING_COLS " FROM ", Engine("sv_pending"),
                                   " WHERE source = $1 AND key = $2 ORDER BY held, "
                                   "CASE WHEN held THEN position ELSE sequence END, position"),
                      {source, key}));
  return ReadPending(r.get());
}

absl::StatusOr<std::vector<PendingEvent>> PgStore::ListPending(const std::string& source) {
  SV_ASSIGN_OR_RETURN(Result r,
                      Query(absl::StrCat("SELECT " SV_PENDING_COLS " FROM ", Engine("sv_pending"),
                                         " WHERE source = $1 ORDER BY \"partition\", "
                                         "position"),
                            {source}));
  return ReadPending(r.get());
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> PgStore::LoadEventIds(
    const std::string& source) {
  SV_ASSIGN_OR_RETURN(Result r,
                      Query(absl::StrCat("SELECT event_id, position FROM ", Engine("sv_event_ids"),
                                         " WHERE source = $1 ORDER BY position, event_id"),
                            {source}));
  std::vector<std::pair<std::string, int64_t>> out;
  out.reserve(static_cast<size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    SV_ASSIGN_OR_RETURN(int64_t position, Int64(r.get(), i, 1));
    out.emplace_back(Text(r.get(), i, 0), position);
  }
  return out;
}

absl::StatusOr<std::map<int32_t, int64_t>> PgStore::GetPositions(const std::string& source) {
  SV_ASSIGN_OR_RETURN(Result r, Query(absl::StrCat("SELECT \"partition\", position FROM ",
                                                   Engine("sv_positions"), " WHERE source = $1"),
                                      {source}));
  std::map<int32_t, int64_t> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    SV_ASSIGN_OR_RETURN(int32_t partition, Int32(r.get(), i, 0));
    SV_ASSIGN_OR_RETURN(out[partition], Int64(r.get(), i, 1));
  }
  return out;
}

absl::StatusOr<std::map<std::pair<std::string, int32_t>, int64_t>> PgStore::AllPositions() {
  SV_ASSIGN_OR_RETURN(Result r, Query(absl::StrCat("SELECT source, \"partition\", position FROM ",
                                                   Engine("sv_positions"))));
  std::map<std::pair<std::string, int32_t>, int64_t> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    SV_ASSIGN_OR_RETURN(int32_t partition, Int32(r.get(), i, 1));
    SV_ASSIGN_OR_RETURN(out[std::make_pair(Text(r.get(), i, 0), partition)], Int64(r.get(), i, 2));
  }
  return out;
}

absl::StatusOr<std::map<std::string, int64_t>> PgStore::GetCounters() {
  SV_ASSIGN_OR_RETURN(Result r,
                      Query(absl::StrCat("SELECT name, value FROM ", Engine("sv_counters"))));
  std::map<std::string, int64_t> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    SV_ASSIGN_OR_RETURN(out[Text(r.get(), i, 0)], Int64(r.get(), i, 1));
  }
  return out;
}

absl::StatusOr<std::vector<DeadLetter>> PgStore::ReadDeadLetters(const PGresult* r) {
  std::vector<DeadLetter> out;
  for (int i = 0; i < PQntuples(r); ++i) {
    DeadLetter& dl = out.emplace_back();
    SV_ASSIGN_OR_RETURN(dl.id, Int64(r, i, 0));
    dl.source = Text(r, i, 1);
    SV_ASSIGN_OR_RETURN(dl.partition, Int32(r, i, 2));
    SV_ASSIGN_OR_RETURN(dl.position, Int64(r, i, 3));
    dl.key = Text(r, i, 4);
    dl.reason = Text(r, i, 5);
    dl.raw = Text(r, i, 6);
    SV_ASSIGN_OR_RETURN(dl.created_us, Int64(r, i, 7));
    dl.state = ParseDeadLetterState(Text(r, i, 8));
    dl.parks_key = Bool(r, i, 9);
  }
  return out;
}

absl::StatusOr<std::vector<DeadLetter>> PgStore::ListDeadLetters(bool only_open) {
  SV_ASSIGN_OR_RETURN(
      Result r,
      Query(absl::StrCat("SELECT " SV_DEAD_LETTER_COLS " FROM ", Engine("sv_dead_letters"),
                         only_open ? " WHERE state = 'open'" : "", " ORDER BY id")));
  return ReadDeadLetters(r.get());
}

absl::StatusOr<std::optional<DeadLetter>> PgStore::GetDeadLetter(int64_t id) {
  SV_ASSIGN_OR_RETURN(Result r, Query(absl::StrCat("SELECT " SV_DEAD_LETTER_COLS " FROM ",
                                                   Engine("sv_dead_letters"), " WHERE id = $1"),
                                      {absl::StrCat(id)}));
  SV_ASSIGN_OR_RETURN(std::vector<DeadLetter> found, ReadDeadLetters(r.get()));
  if (found.empty()) return std::optional<DeadLetter>();
  return std::optional<DeadLetter>(std::move(found.front()));
}

absl::StatusOr<std::vector<DeadLetter>> PgStore::ListDeadLetterOutbox(const std::string& source) {
  SV_ASSIGN_OR_RETURN(
      Result r,
      Query(absl::StrCat("SELECT " SV_DEAD_LETTER_COLS " FROM ", Engine("sv_dead_letters"),
                         " WHERE source = $1 AND id IN (SELECT id FROM ",
                         Engine("sv_dead_letter_outbox"), ") ORDER BY id"),
            {source}));
  return ReadDeadLetters(r.get());
}

absl::Status PgStore::DeleteDeadLetterOutbox(const std::vector<int64_t>& ids) {
  if (ids.empty()) return absl::OkStatus();
  return Query(absl::StrCat("DELETE FROM ", Engine("sv_dead_letter_outbox"),
                            " WHERE id = ANY($1::bigint[])"),
               {absl::StrCat("{", absl::StrJoin(ids, ","), "}")})
      .status();
}

// Whether a text value reads as a value of a column of type `type` (SQLite compares it by
// the column's affinity then; PostgreSQL would refuse the query).
bool TextFits(const std::string& text, Type type) {
  switch (type) {
    case Type::kInt:
    case Type::kInterval: {
      int64_t i = 0;
      return absl::SimpleAtoi(text, &i);
    }
    case Type::kReal: {
      double d = 0;
      return absl::SimpleAtod(text, &d);
    }
    case Type::kTime:
      return ParseTime(text).has_value();
    case Type::kBool:
      return text == "0" || text == "1" || text == "true" || text == "false";
    case Type::kJson:
      return CanonicalJson(text).ok();
    case Type::kText:
    case Type::kNull:
      return true;
  }
  return true;
}

absl::StatusOr<std::vector<Row>> PgStore::QueryView(const TableSpec& table,
                                                    const ViewQuery& original) {
  // A filter value that cannot be a value of its column matches no row (as in SQLite, where a
  // number never equals text): such values leave an IN list, and a comparison with one
  // becomes an empty IN list (FALSE).
  ViewQuery query = original;
  for (Filter& f : query.filters) {
    if (f.column < 0 || static_cast<size_t>(f.column) >= table.columns.size()) continue;
    const Type type = table.columns[f.column].type;
    auto misfit = [&](const Value& v) {
      return v.type() == Type::kText && !TextFits(v.as_text(), type);
    };
    if (f.op == FilterOp::kIn) {
      f.values.erase(std::remove_if(f.values.begin(), f.values.end(), misfit), f.values.end());
    } else if (f.op != FilterOp::kPrefix && f.op != FilterOp::kContains && f.values.size() == 1 &&
               misfit(f.values[0])) {
      f.op = FilterOp::kIn;
      f.values.clear();
    }
  }
  std::vector<Value> binds;
  SV_ASSIGN_OR_RETURN(std::string sql,
                      pg::BuildViewQuerySql(table, query, ViewTable(table.name), &binds));
  Params params;
  params.reserve(binds.size());
  for (const Value& v : binds) params.push_back(Param(v, Type::kNull));
  SV_ASSIGN_OR_RETURN(Result r, Query(sql, params));
  std::vector<Row> rows(PQntuples(r.get()));
  for (size_t i = 0; i < rows.size(); ++i) {
    SV_RETURN_IF_ERROR(ReadRow(r.get(), static_cast<int>(i), table, &rows[i]));
  }
  // A backward page was scanned in reverse; hand it back in the query's order.
  if (query.backward) std::reverse(rows.begin(), rows.end());
  return rows;
}

namespace {

// The key columns in ascending order, NULL first as everywhere (a nullable key's index too).
std::string KeyOrder(const TableSpec& table) {
  if (!table.key_nullable) return KeyList(table);
  return absl::StrJoin(table.key, ", ", [&](std::string* out, int k) {
    absl::StrAppend(out, QuoteIdent(table.columns[k].name), " NULLS FIRST");
  });
}

}  // namespace

absl::Status PgStore::ScanTable(const TableSpec& table,
                                const std::function<void(const Row&)>& each) {
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  SV_RETURN_IF_ERROR(EnsureConnected());
  Row row;
  return conn_.Stream(
      absl::StrCat("SELECT ", ColumnList(table), " FROM ", ViewTable(table.name), " ORDER BY ",
                   KeyOrder(table)),
      [&](const PGresult* result) -> absl::Status {
        if (interrupted_.load()) {
          return absl::CancelledError("postgres: scan interrupted (its owner is stopping)");
        }
        SV_RETURN_IF_ERROR(ReadRow(result, 0, table, &row));
        each(row);
        return absl::OkStatus();
      });
}

// PostgreSQL's result types follow its own rules (sum(bigint) is numeric, 1 is integer, ...):
// the SELECT runs as a subquery whose columns are cast to the declared types, which ReadRow
// then decodes like a table's. The subquery's width is checked first: a column alias list
// alone would let extra columns through.
absl::Status PgStore::QuerySelect(const std::string& select_sql,
                                  const std::vector<ColumnSpec>& columns,
                                  const std::function<void(const Row&)>& each) {
  if (owner != nullptr) SV_RETURN_IF_ERROR(owner->Begin());
  SV_RETURN_IF_ERROR(EnsureConnected());
  constexpr absl::string_view kLabel = "query select";
  Result prepared(PQprepare(conn_.raw(), "", select_sql.c_str(), 0, nullptr));
  if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK)
    return conn_.Error(prepared.get(), kLabel);
  Result described(PQdescribePrepared(conn_.raw(), ""));
  if (PQresultStatus(described.get()) != PGRES_COMMAND_OK) {
    return conn_.Error(described.get(), kLabel);
  }
  const int n = PQnfields(described.get());
  if (n != static_cast<int>(columns.size())) {
    return absl::InvalidArgumentError(absl::StrCat("postgres: query select: the SELECT yields ", n,
                                                   " columns, expected ", columns.size()));
  }
  std::string outer = "SELECT ";
  std::string names;
  for (size_t c = 0; c < columns.size(); ++c) {
    absl::StrAppend(&outer, c > 0 ? ", " : "", "CAST(q.c", c, " AS ", SqlType(columns[c].type),
                    ")");
    absl::StrAppend(&names, c > 0 ? ", " : "", "c", c);
  }
  absl::string_view inner = select_sql;  // a trailing semicolon cannot go into a subquery
  while (!inner.empty() && (inner.back() == ';' || absl::ascii_isspace(inner.back()))) {
    inner.remove_suffix(1);
  }
  absl::StrAppend(&outer, " FROM (", inner, ") AS q(", names, ")");
  TableSpec spec;  // ReadRow decodes by spec; the name only labels errors
  spec.name = "select";
  spec.columns = columns;
  Row row;
  // Streamed (single-row mode): a reconciliation's SELECT over a large view is not held whole.
  return conn_.Stream(outer, [&](const PGresult* result) -> absl::Status {
    if (interrupted_.load()) {
      return absl::CancelledError("postgres: query interrupted (its owner is stopping)");
    }
    SV_RETURN_IF_ERROR(ReadRow(result, 0, spec, &row));
    each(row);
    return absl::OkStatus();
  });
}

std::unique_ptr<Batch> PgStore::BeginBatch() { return std::make_unique<PgBatch>(this); }

}  // namespace sv::store::pg_impl
