// HTTP query strings, filters and cursors. The input's first byte picks the mode:
//   0 /views/{view}, 1 a compatibility route (page=, pageSize=): the rest is a query string,
//     split on '&' and the first '=' (values as the HTTP layer hands them over, decoded: any
//     byte may appear), parsed against an orders view with a column of every type;
//   2 the rest is an encoded row (a cursor's payload after its checksum), decoded;
//   3 the rest is one segment of a row path (/views/{view}/{key...}), read as every type.
// Whatever parses must also round-trip a cursor: a cursor issued for the parsed query and a
// boundary row is accepted by the same query and yields that boundary.

#include <cstdlib>
#include <string>

#include "absl/strings/str_split.h"
#include "fuzz/fuzz_common.h"
#include "server/view_query.h"

namespace {

using sv::Row;
using sv::Type;
using sv::Value;
using namespace sv::server;

ViewApi OrdersApi() {
  ViewApi api;
  api.view = "orders";
  api.table.name = "orders";
  api.table.columns = {{"order_id", Type::kText},   {"total", Type::kReal},
                       {"items", Type::kInt},       {"paid", Type::kBool},
                       {"created_at", Type::kTime}, {"ttl", Type::kInterval},
                       {"extra", Type::kNull},      {"line", Type::kInt}};
  api.table.key = {0, 7};
  api.sortable = {1, 2, 4, 6};
  api.time_column = 4;
  return api;
}

// A cursor for `q` at `boundary` must be accepted by the query it was issued for.
void CheckCursorRoundTrip(const ViewApi& api, Params params, Mode mode,
                          const sv::store::ViewQuery& q, const Row& boundary) {
  for (const auto& [name, value] : params) {
    if (name == "cursor" || name == "page") return;  // already positioned
  }
  const std::string cursor = EncodeCursor(api, q, boundary, /*backward=*/true);
  if (cursor.size() > kMaxCursorBytes) return;  // the server omits such a link
  params.emplace_back("cursor", cursor);
  auto reparsed = ParseViewQuery(api, params, mode);
  const auto* parsed = std::get_if<ParsedQuery>(&reparsed);
  if (parsed == nullptr || !parsed->query.after || !parsed->query.backward) std::abort();
  Row expected;
  if (q.sort)
    expected.push_back(*q.sort < static_cast<int>(boundary.size()) ? boundary[*q.sort]
                                                                   : Value::Null());
  for (int k : api.table.key) {
    expected.push_back(k < static_cast<int>(boundary.size()) ? boundary[k] : Value::Null());
  }
  // Compared encoded: a forged cursor may carry a NaN, which is never == itself.
  std::string got_bytes, expected_bytes;
  sv::EncodeRow(*parsed->query.after, &got_bytes);
  sv::EncodeRow(expected, &expected_bytes);
  if (got_bytes != expected_bytes) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const ViewApi api = OrdersApi();
  const std::string_view text = sv::fuzz::AsText(data + 1, size - 1);
  if (data[0] % 4 == 3) {
    for (Type type : {Type::kNull, Type::kBool, Type::kInt, Type::kReal, Type::kText, Type::kTime,
                      Type::kInterval}) {
      (void)ParseTypedValue(text, type);
    }
    return 0;
  }
  if (data[0] % 4 == 2) {
    Row boundary;
    if (!sv::DecodeRow(text, &boundary)) return 0;
    const Params params = {{"sort", "-created_at"}};
    auto parsed = ParseViewQuery(api, params, Mode::kNative);
    if (!std::holds_alternative<ParsedQuery>(parsed)) std::abort();
    CheckCursorRoundTrip(api, params, Mode::kNative, std::get<ParsedQuery>(parsed).query, boundary);
    return 0;
  }
  const Mode mode = data[0] % 4 == 0 ? Mode::kNative : Mode::kCompat;
  Params params;
  if (!text.empty()) {
    for (absl::string_view pair :
         absl::StrSplit(absl::string_view(text.data(), text.size()), '&')) {
      const size_t eq = pair.find('=');
      if (eq == absl::string_view::npos) {
        params.emplace_back(std::string(pair), "");
      } else {
        params.emplace_back(std::string(pair.substr(0, eq)), std::string(pair.substr(eq + 1)));
      }
    }
  }
  auto parsed = ParseViewQuery(api, params, mode);
  if (const auto* ok = std::get_if<ParsedQuery>(&parsed)) {
    static const Row boundary = {Value::Text("o-1"),
                                 Value::Real(-0.5),
                                 Value::Int(3),
                                 Value::Bool(true),
                                 Value::Time(1'700'000'000'000'000),
                                 Value::Interval(-1),
                                 Value::Text("x"),
                                 Value::Int(7)};
    CheckCursorRoundTrip(api, params, mode, ok->query, boundary);
  }
  return 0;
}
