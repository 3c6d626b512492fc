// Time-relative derived views: now() comparisons in WHERE and FILTER, maintained by timers as
// an injected clock moves (no recompute), checked against the flip-time math, exact
// boundaries, and a from-scratch evaluation at the same clock.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/status_macros.h"
#include "common/time_util.h"
#include "config/config.h"
#include "derived/maintainer.h"
#include "projection/projection.h"
#include "sql/expr.h"
#include "sql/time_bounds.h"

namespace sv {
using ::testing::HasSubstr;
namespace {

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kHour = 3600 * kSecond;
constexpr int64_t kDay = 24 * kHour;

int64_t At(const std::string& iso) {
  std::optional<int64_t> t = ParseTime(iso);
  EXPECT_TRUE(t.has_value()) << iso;
  return t.value_or(0);
}

// ---- Flip-time math

struct FlipCase {
  const char* x;
  sql::AtomOp op;
  const char* unit;
  int64_t offset_us;
  const char* flip;  // the first instant with the late value
};

TEST(TimedViewsTest, FlipTimesForEveryOperatorAndUnit) {
  using Op = sql::AtomOp;
  const FlipCase cases[] = {
      // x < now() + c: true once now > x - c.
      {"2026-03-04T10:00:00Z", Op::kLess, "", 0, "2026-03-04T10:00:00.000001Z"},
      {"2026-03-04T10:00:00Z", Op::kLess, "", -7 * kDay, "2026-03-11T10:00:00.000001Z"},
      {"2026-03-04T10:00:00Z", Op::kLessEqual, "", 0, "2026-03-04T10:00:00Z"},
      {"2026-03-04T10:00:00Z", Op::kGreater, "", 0, "2026-03-04T10:00:00Z"},
      {"2026-03-04T10:00:00Z", Op::kGreaterEqual, "", kHour, "2026-03-04T09:00:00.000001Z"},
      // Truncated: x >= date_trunc('day', now()) turns false when the day after x starts.
      {"2026-03-04T10:00:00Z", Op::kGreaterEqual, "day", 0, "2026-03-05T00:00:00Z"},
      {"2026-03-04T00:00:00Z", Op::kGreaterEqual, "day", 0, "2026-03-05T00:00:00Z"},
      // x > trunc(now): false once trunc(now) >= x: at x itself when x is a day start.
      {"2026-03-04T00:00:00Z", Op::kGreater, "day", 0, "2026-03-04T00:00:00Z"},
      {"2026-03-04T00:00:00.000001Z", Op::kGreater, "day", 0, "2026-03-05T00:00:00Z"},
      {"2026-03-04T00:00:00Z", Op::kLessEqual, "day", 0, "2026-03-04T00:00:00Z"},
      {"2026-03-04T00:00:00Z", Op::kLess, "day", 0, "2026-03-05T00:00:00Z"},
      // current_date - interval '7 days'.
      {"2026-03-04T10:00:00Z", Op::kGreaterEqual, "day", -7 * kDay, "2026-03-12T00:00:00Z"},
      // Calendar units: February, a leap February, December into January, weeks from Monday.
      {"2026-02-10T00:00:00Z", Op::kLess, "month", 0, "2026-03-01T00:00:00Z"},
      {"2028-02-29T23:59:59Z", Op::kLess, "month", 0, "2028-03-01T00:00:00Z"},
      {"2026-12-31T12:00:00Z", Op::kLess, "month", 0, "2027-01-01T00:00:00Z"},
      {"2026-01-31T00:00:00Z", Op::kLess, "month", 0, "2026-02-01T00:00:00Z"},
      {"2026-03-01T00:00:00Z", Op::kLessEqual, "month", 0, "2026-03-01T00:00:00Z"},
      {"2026-03-01T00:00:00Z", Op::kLess, "month", 0, "2026-04-01T00:00:00Z"},
      {"2026-05-17T00:00:00Z", Op::kLess, "year", 0, "2027-01-01T00:00:00Z"},
      {"2026-05-17T00:00:00Z", Op::kLess, "quarter", 0, "2026-07-01T00:00:00Z"},
      {"2026-12-06T15:00:00Z", Op::kLess, "week", 0, "2026-12-07T00:00:00Z"},  // a Sunday
      {"2026-12-06T15:20:30.5Z", Op::kLess, "hour", 0, "2026-12-06T16:00:00Z"},
      {"2026-12-06T15:20:30.5Z", Op::kLess, "minute", 0, "2026-12-06T15:21:00Z"},
      {"2026-12-06T15:20:30.5Z", Op::kLess, "second", 0, "2026-12-06T15:20:31Z"},
      {"2026-12-06T15:20:30Z", Op::kLessEqual, "seconds", 0, "2026-12-06T15:20:30Z"},
      // date_trunc('month', now()) + interval '1 day' > x.
      {"2026-03-01T12:00:00Z", Op::kLess, "month", kDay, "2026-03-01T00:00:00Z"},
  };
  for (const FlipCase& c : cases) {
    sql::AtomShape shape{c.op, c.unit, c.offset_us};
    std::optional<int64_t> flip = sql::AtomFlipTime(At(c.x), shape);
    ASSERT_TRUE(flip.has_value()) << c.x;
    EXPECT_EQ(FormatTime(*flip), FormatTime(At(c.flip)))
        << c.x << " op " << static_cast<int>(c.op) << " unit " << c.unit;
  }
  EXPECT_FALSE(sql::TruncUnitStep("fortnight").has_value());
}

// date_trunc through the SQL evaluator, independently of the flip-time code.
int64_t Trunc(const std::string& unit, int64_t t) {
  const sql::Resolver none = [](const sql::NameRef&) -> absl::StatusOr<sql::Binding> {
    return absl::InvalidArgumentError("no columns");
  };
  auto expr = sql::Compile("date_trunc('" + unit + "', CAST('" + FormatTime(t) + "' AS timestamp))",
                           none, Location{"test", 1, 1});
  EXPECT_TRUE(expr.ok()) << expr.status();
  absl::StatusOr<Value> v = sql::EvalConstant(**expr);
  EXPECT_TRUE(v.ok() && v->type() == Type::kTime) << FormatTime(t);
  return v.ok() ? v->as_int() : 0;
}

// The flip time really is where the comparison changes: brute force around it.
TEST(TimedViewsTest, FlipTimeIsWhereTheComparisonChanges) {
  std::mt19937_64 rng(7);
  const char* units[] = {"", "second", "hour", "day", "week", "month", "quarter", "year"};
  const int64_t base = At("2026-01-01T00:00:00Z");
  for (int i = 0; i < 1500; ++i) {
    sql::AtomShape shape;
    shape.op = static_cast<sql::AtomOp>(rng() % 4);
    shape.unit = units[rng() % 8];
    shape.offset_us = static_cast<int64_t>(rng() % (40 * kDay)) - 20 * kDay;
    int64_t x = base + static_cast<int64_t>(rng() % (800 * kDay));
    if (rng() % 3 == 0) x -= x % kDay;  // exact boundaries too
    std::optional<int64_t> flip = sql::AtomFlipTime(x, shape);
    ASSERT_TRUE(flip.has_value());
    auto holds = [&](int64_t t) {
      const int64_t gt = (shape.unit.empty() ? t : Trunc(shape.unit, t)) + shape.offset_us;
      switch (shape.op) {
        case sql::AtomOp::kLess:
          return x < gt;
        case sql::AtomOp::kLessEqual:
          return x <= gt;
        case sql::AtomOp::kGreater:
          return x > gt;
        case sql::AtomOp::kGreaterEqual:
          return x >= gt;
      }
      return false;
    };
    const bool late = shape.op == sql::AtomOp::kLess || shape.op == sql::AtomOp::kLessEqual;
    EXPECT_EQ(holds(*flip), late) << i;
    EXPECT_EQ(holds(*flip - 1), !late) << i;
  }
}

// ---- The maintainer with an injected clock

constexpr char kBase[] = R"(
sources:
  s:
    key: id
    event_types: [Put, Carrier]
views:
  shipments:
    source: s
    key: [id]
    columns:
      id: text
      org: text
      carrier: text
      due: timestamp
      delivered: timestamp
      created: timestamp
    on:
      Put:
        set:
          id: e.id
  carriers:
    source: s
    key: [cid]
    columns:
      cid: text
      name: text
    on:
      Carrier:
        set:
          cid: e.id
derived_views:
)";

std::string Entry(const std::string& name, const std::string& sql) {
  return "  " + name + ":\n    sql: |\n      " + sql + "\n";
}

absl::StatusOr<std::unique_ptr<projection::Catalog>> CatalogOf(const std::string& derived) {
  SV_ASSIGN_OR_RETURN(config::Config config,
                      config::ParseConfig(std::string(kBase) + derived, "test.yaml"));
  return projection::Compile(config);
}

Value Tx(const std::string& s) { return Value::Text(s); }
Value Ts(const std::string& iso) { return iso.empty() ? Value::Null() : Value::Time(At(iso)); }

Row Ship(const std::string& id, const std::string& org, const std::string& due,
         const std::string& delivered = "", const std::string& created = "",
         const std::string& carrier = "c1") {
  return {Tx(id), Tx(org), Tx(carrier), Ts(due), Ts(delivered), Ts(created)};
}

// Base rows in, derived rows out (as a store would hold them), at a clock the test moves.
class Harness {
 public:
  explicit Harness(const std::string& derived, int64_t now) {
    auto catalog = CatalogOf(derived);
    EXPECT_TRUE(catalog.ok()) << catalog.status();
    if (!catalog.ok()) return;
    catalog_ = std::move(*catalog);
    maintainer_ = std::make_unique<derived::Maintainer>(catalog_.get());
    maintainer_->SetClock(now);
    base_.resize(catalog_->views.size());
    store_.resize(catalog_->views.size());
  }
  bool ok() const { return maintainer_ != nullptr; }
  int View(const std::string& name) const { return catalog_->FindView(name); }
  derived::Maintainer& maintainer() { return *maintainer_; }

  void Put(const std::string& view, const Row& row) {
    const int v = View(view);
    const std::string k = row[0].ToString();
    std::optional<Row> old;
    if (auto it = base_[v].find(k); it != base_[v].end()) old = it->second;
    base_[v][k] = row;
    maintainer_->OnChange(v, old ? &*old : nullptr, &base_[v][k]);
    Flush();
  }
  void Erase(const std::string& view, const std::string& key) {
    const int v = View(view);
    Row old = base_[v].at(key);
    base_[v].erase(key);
    maintainer_->OnChange(v, &old, nullptr);
    Flush();
  }
  void Advance(int64_t t) {
    maintainer_->AdvanceClock(t);
    Flush();
  }
  void Flush() {
    absl::Status s = maintainer_->Flush([&](int v, const Row* old_row, const Row* new_row) {
      const Row& any = new_row != nullptr ? *new_row : *old_row;
      std::string key;
      for (int k : catalog_->views[v].key) key += any[k].ToString() + "|";
      auto it = store_[v].find(key);
      EXPECT_EQ(it != store_[v].end(), old_row != nullptr) << key;
      if (it != store_[v].end() && old_row != nullptr) {
        EXPECT_EQ(it->second, *old_row);
      }
      if (new_row != nullptr) {
        store_[v][key] = *new_row;
      } else {
        store_[v].erase(key);
      }
      return absl::OkStatus();
    });
    ASSERT_TRUE(s.ok()) << s;
  }
  std::vector<std::string> Rows(const std::string& view) {
    std::vector<std::string> out;
    for (const auto& [k, row] : store_[View(view)]) out.push_back(Render(row));
    return out;
  }
  static std::string Render(const Row& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += (c > 0 ? "|" : "") + (row[c].is_null() ? std::string("NULL") : row[c].ToString());
    }
    return line;
  }
  // A maintainer loaded from scratch at the same clock must hold what the store holds.
  void CheckAgainstScratch() {
    derived::Maintainer fresh(catalog_.get());
    fresh.SetClock(maintainer_->now());
    absl::Status s = fresh.Load([&](int v, const std::function<void(const Row&)>& each) {
      if (catalog_->views[v].derived != nullptr) {
        for (const auto& [k, row] : store_[v]) each(row);
      } else {
        for (const auto& [k, row] : base_[v]) each(row);
      }
      return absl::OkStatus();
    });
    ASSERT_TRUE(s.ok()) << s;
    for (size_t v = 0; v < catalog_->views.size(); ++v) {
      if (catalog_->views[v].derived == nullptr) continue;
      std::multiset<std::string> scratch, held;
      fresh.ForEachRow(static_cast<int>(v), [&](const Row& row) { scratch.insert(Render(row)); });
      for (const auto& [k, row] : store_[v]) held.insert(Render(row));
      ASSERT_EQ(scratch, held) << catalog_->views[v].name << " at "
                               << FormatTime(maintainer_->now());
    }
  }

 private:
  std::unique_ptr<projection::Catalog> catalog_;
  std::unique_ptr<derived::Maintainer> maintainer_;
  std::vector<std::map<std::string, Row>> base_;
  std::vector<std::map<std::string, Row>> store_;
};

const char kOverdue[] =
    "CREATE VIEW overdue AS SELECT id, org FROM shipments WHERE delivered IS NULL AND due < now()";

TEST(TimedViewsTest, RowsEnterWhereExactlyAtTheirBoundary) {
  Harness h(Entry("overdue", kOverdue), At("2026-12-06T08:00:00Z"));
  ASSERT_TRUE(h.ok());
  h.Put("shipments", Ship("a", "o1", "2026-12-06T09:00:00Z"));
  h.Put("shipments", Ship("b", "o1", "2026-12-06T07:00:00Z"));
  h.Put("shipments", Ship("c", "o1", "2026-12-06T07:00:00Z", "2026-12-06T06:00:00Z"));
  EXPECT_THAT(h.Rows("overdue"), ::testing::ElementsAre("b|o1"));
  // due < now() turns true 1µs after due.
  const int64_t boundary = At("2026-12-06T09:00:00Z") + 1;
  EXPECT_EQ(h.maintainer().NextDeadline(), boundary);
  h.Advance(boundary - 1);
  EXPECT_THAT(h.Rows("overdue"), ::testing::ElementsAre("b|o1"));
  h.Advance(boundary);
  EXPECT_THAT(h.Rows("overdue"), ::testing::ElementsAre("a|o1", "b|o1"));
  EXPECT_EQ(h.maintainer().NextDeadline(), std::nullopt);
  // Delivered: it leaves with the update, no timer involved.
  h.Put("shipments", Ship("a", "o1", "2026-12-06T09:00:00Z", "2026-12-06T09:30:00Z"));
  EXPECT_THAT(h.Rows("overdue"), ::testing::ElementsAre("b|o1"));
  h.CheckAgainstScratch();
}

TEST(TimedViewsTest, FilterOnCurrentDateMovesAtMidnight) {
  Harness h(Entry("today",
                  "CREATE VIEW today AS SELECT org, count(*) FILTER (WHERE created >= "
                  "current_date) AS today, count(*) AS total FROM shipments GROUP BY org"),
            At("2026-12-06T22:00:00Z"));
  ASSERT_TRUE(h.ok());
  h.Put("shipments", Ship("a", "o1", "", "", "2026-12-06T10:00:00Z"));
  h.Put("shipments", Ship("b", "o1", "", "", "2026-12-05T23:59:59Z"));
  h.Put("shipments", Ship("c", "o1", "", "", "2026-12-06T00:00:00Z"));
  EXPECT_THAT(h.Rows("today"), ::testing::ElementsAre("o1|2|3"));
  const int64_t midnight = At("2026-12-07T00:00:00Z");
  h.Advance(midnight - 1);
  EXPECT_THAT(h.Rows("today"), ::testing::ElementsAre("o1|2|3"));
  h.Advance(midnight);
  EXPECT_THAT(h.Rows("today"), ::testing::ElementsAre("o1|0|3"));
  h.Put("shipments", Ship("d", "o1", "", "", "2026-12-07T00:00:01Z"));
  EXPECT_THAT(h.Rows("today"), ::testing::ElementsAre("o1|1|4"));
  h.CheckAgainstScratch();
}

TEST(TimedViewsTest, ATickTouchesOnlyTheRowsWhoseTimeCame) {
  Harness h(Entry("overdue", kOverdue), At("2026-12-06T00:00:00Z"));
  ASSERT_TRUE(h.ok());
  for (int i = 0; i < 1000; ++i) {
    // One row due each minute of the day, from 00:00 on.
    const int64_t due = At("2026-12-06T00:00:00Z") + i * 60 * kSecond;
    h.Put("shipments", {Tx("s" + std::to_string(i)), Tx("o"), Tx("c"), Value::Time(due),
                        Value::Null(), Value::Null()});
  }
  EXPECT_EQ(h.maintainer().timer_pops(), 0);
  h.Advance(At("2026-12-06T00:09:30Z"));  // rows due 00:00 … 00:09
  EXPECT_EQ(h.maintainer().timer_pops(), 10);
  EXPECT_EQ(h.Rows("overdue").size(), 10u);
  h.Advance(At("2026-12-06T00:09:40Z"));
  EXPECT_EQ(h.maintainer().timer_pops(), 10);
  h.CheckAgainstScratch();
}

TEST(TimedViewsTest, UpdatesAndDeletesMoveOrDropPendingTimers) {
  Harness h(Entry("overdue", kOverdue), At("2026-12-06T08:00:00Z"));
  ASSERT_TRUE(h.ok());
  h.Put("shipments", Ship("a", "o1", "2026-12-06T09:00:00Z"));
  h.Put("shipments", Ship("b", "o1", "2026-12-06T10:00:00Z"));
  // Rescheduled later: the old timer goes, the new one counts.
  h.Put("shipments", Ship("a", "o1", "2026-12-06T11:00:00Z"));
  EXPECT_EQ(h.maintainer().NextDeadline(), At("2026-12-06T10:00:00Z") + 1);
  h.Erase("shipments", "b");
  EXPECT_EQ(h.maintainer().NextDeadline(), At("2026-12-06T11:00:00Z") + 1);
  h.Advance(At("2026-12-06T10:30:00Z"));
  EXPECT_TRUE(h.Rows("overdue").empty());
  EXPECT_EQ(h.maintainer().timer_pops(), 0);
  // Delivered before its time: it never shows (its comparison still flips: one re-evaluation).
  h.Put("shipments", Ship("a", "o1", "2026-12-06T11:00:00Z", "2026-12-06T10:40:00Z"));
  h.Advance(At("2026-12-06T12:00:00Z"));
  EXPECT_TRUE(h.Rows("overdue").empty());
  EXPECT_EQ(h.maintainer().timer_pops(), 1);
  EXPECT_EQ(h.maintainer().NextDeadline(), std::nullopt);
  h.Erase("shipments", "a");
  EXPECT_EQ(h.maintainer().NextDeadline(), std::nullopt);
  h.CheckAgainstScratch();
}

TEST(TimedViewsTest, AJoinViewWithATimedWhere) {
  Harness h(Entry("late_by_carrier",
                  "CREATE VIEW late_by_carrier AS SELECT c.name, count(*) AS late FROM shipments "
                  "s JOIN carriers c ON s.carrier = c.cid WHERE s.delivered IS NULL AND now() - "
                  "interval '1 hour' > s.due GROUP BY c.name"),
            At("2026-12-06T08:00:00Z"));
  ASSERT_TRUE(h.ok());
  h.Put("carriers", {Tx("c1"), Tx("DHL")});
  h.Put("shipments", Ship("a", "o1", "2026-12-06T08:30:00Z", "", "", "c1"));
  h.Put("shipments", Ship("b", "o1", "2026-12-06T09:00:00Z", "", "", "c1"));
  EXPECT_TRUE(h.Rows("late_by_carrier").empty());
  h.Advance(At("2026-12-06T09:30:00.000001Z"));
  EXPECT_THAT(h.Rows("late_by_carrier"), ::testing::ElementsAre("DHL|1"));
  // The carrier renamed: the joined tuples (and their timers) follow.
  h.Put("carriers", {Tx("c1"), Tx("UPS")});
  EXPECT_THAT(h.Rows("late_by_carrier"), ::testing::ElementsAre("UPS|1"));
  h.Advance(At("2026-12-06T10:00:00Z"));
  EXPECT_THAT(h.Rows("late_by_carrier"), ::testing::ElementsAre("UPS|1"));
  h.Advance(At("2026-12-06T10:00:00.000001Z"));
  EXPECT_THAT(h.Rows("late_by_carrier"), ::testing::ElementsAre("UPS|2"));
  h.CheckAgainstScratch();
}

TEST(TimedViewsTest, RandomRowsAndClockMovesMatchAFromScratchEvaluation) {
  const std::string views =
      Entry("overdue", kOverdue) +
      Entry(
          "windows",
          "CREATE VIEW windows AS SELECT org, count(*) FILTER (WHERE created >= current_date) "
          "AS today, count(*) FILTER (WHERE created >= now() - interval '7 days') AS week, "
          "count(*) FILTER (WHERE created < date_trunc('month', now()) + interval '1 day') AS "
          "before, max(due) FILTER (WHERE due <= now()) AS last_due FROM shipments GROUP BY org") +
      Entry("recent_overdue",
            "CREATE VIEW recent_overdue AS SELECT org, count(*) AS n FROM overdue GROUP BY org");
  std::mt19937_64 rng(42);
  int64_t now = At("2026-01-30T12:00:00Z");
  Harness h(views, now);
  ASSERT_TRUE(h.ok());
  auto random_time = [&] {
    return FormatTime(now + static_cast<int64_t>(rng() % (20 * kDay)) - 10 * kDay);
  };
  for (int step = 0; step < 400; ++step) {
    const int what = static_cast<int>(rng() % 10);
    const std::string id = "s" + std::to_string(rng() % 60);
    if (what < 6) {
      h.Put("shipments", Ship(id, "o" + std::to_string(rng() % 3), random_time(),
                              rng() % 4 == 0 ? random_time() : "", random_time()));
    } else if (what < 7) {
      h.Put("shipments", Ship(id, "o1", random_time()));
      h.Erase("shipments", id);
    } else {
      // Sometimes exactly onto the next deadline, sometimes far past several.
      std::optional<int64_t> next = h.maintainer().NextDeadline();
      now = next && rng() % 2 == 0 ? *next : now + static_cast<int64_t>(rng() % (3 * kDay)) + 1;
      h.Advance(now);
    }
    h.CheckAgainstScratch();
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// ---- Where now() is refused

TEST(TimedViewsTest, NowOutsideMonotoneComparisonsIsALoadError) {
  const struct {
    const char* sql;
    const char* message;
  } cases[] = {
      {"CREATE VIEW v AS SELECT id, now() AS at FROM shipments",
       "now() is allowed only in a derived view's WHERE or an aggregate's FILTER"},
      {"CREATE VIEW v AS SELECT org, count(*) AS n FROM shipments GROUP BY org, "
       "date_trunc('day', now())",
       "now() is allowed only"},
      {"CREATE VIEW v AS SELECT id FROM shipments WHERE due = now()", "now() is allowed only"},
      {"CREATE VIEW v AS SELECT id FROM shipments WHERE due < now() * 2", "unsupported use"},
      {"CREATE VIEW v AS SELECT id FROM shipments WHERE due + (now() - created) < now()",
       "unsupported use of the clock"},
      {"CREATE VIEW v AS SELECT id FROM shipments WHERE id < now()",
       "compare a timestamp with the clock, not text"},
      {"CREATE VIEW v AS SELECT id FROM shipments WHERE due < date_trunc(org, now())",
       "unsupported use of the clock"},
      {"CREATE VIEW v AS SELECT org, sum(CASE WHEN due < now() THEN 1 ELSE 0 END) AS n FROM "
       "shipments GROUP BY org",
       "now() is allowed only"},
      {"CREATE VIEW v AS SELECT id, current_date AS d FROM shipments",
       "current_date is allowed only"},
      {"CREATE VIEW v AS SELECT s.id FROM shipments s JOIN carriers c ON s.due = now()",
       "now() is allowed only"},
  };
  for (const auto& c : cases) {
    auto catalog = CatalogOf(Entry("v", c.sql));
    ASSERT_FALSE(catalog.ok()) << c.sql;
    EXPECT_THAT(std::string(catalog.status().message()), HasSubstr(c.message)) << c.sql;
  }
  // Allowed shapes load, and say they are timed.
  for (const char* sql :
       {"CREATE VIEW v AS SELECT id FROM shipments WHERE current_timestamp >= due",
        "CREATE VIEW v AS SELECT id FROM shipments WHERE due <= current_date + interval '2 days'",
        "CREATE VIEW v AS SELECT id FROM shipments WHERE due < date_trunc('week', now()) - "
        "interval '1 day' OR NOT (created > now())"}) {
    auto catalog = CatalogOf(Entry("v", sql));
    ASSERT_TRUE(catalog.ok()) << sql << ": " << catalog.status();
    EXPECT_TRUE((*catalog)->views.back().derived->timed()) << sql;
  }
}

TEST(TimedViewsTest, NowInABaseViewOrARefreshedViewIsALoadError) {
  std::string base = kBase;
  base.resize(base.find("derived_views:"));
  base.replace(base.find("id: e.id"), 8, "id: e.id\n          due: now()");
  auto config = config::ParseConfig(base, "test.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  auto catalog = projection::Compile(*config);
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(std::string(catalog.status().message()),
              HasSubstr("allowed only in a derived view's WHERE or aggregate FILTER"));

  auto refreshed = CatalogOf(
      "  v:\n    refresh: \"0 2 * * *\"\n    sql: |\n      CREATE VIEW v AS SELECT id FROM "
      "shipments WHERE due < now()\n");
  ASSERT_FALSE(refreshed.ok());
  EXPECT_THAT(std::string(refreshed.status().message()), HasSubstr("no refresh:"));
}

}  // namespace
}  // namespace sv
