#include "engine/row_diff.h"

#include <gtest/gtest.h>

namespace sv::engine {
namespace {

Row R(const char* key, double real, int64_t n) {
  return {Value::Text(key), Value::Real(real), Value::Int(n)};
}

// The CI failure this came from: the engine's running sum gave 2.9785156249999996, the
// store's 2.978515625000001; printed at 9 digits they rounded apart and were flagged as drift.
TEST(RowDiff, RealsThatRoundApartButAgreeAreEqual) {
  RowDiff diff;
  diff.AddHeld(R("org-01|BPOST", 2.9785156249999996, 33));
  diff.AddComputed(R("org-01|BPOST", 2.978515625000001, 33));
  RowDiff::Result result = diff.Finish(5);
  EXPECT_EQ(result.missing, 0);
  EXPECT_EQ(result.unexpected, 0);
  EXPECT_TRUE(result.examples.empty());
}

TEST(RowDiff, ARealThatReallyDiffersIsDrift) {
  RowDiff diff;
  diff.AddHeld(R("a", 2.97851, 1));
  diff.AddComputed(R("a", 2.97852, 1));
  RowDiff::Result result = diff.Finish(5);
  EXPECT_EQ(result.missing, 1);
  EXPECT_EQ(result.unexpected, 1);
  ASSERT_EQ(result.examples.size(), 2u);
  EXPECT_EQ(result.examples[0], "+ a|2.97851|1");
  EXPECT_EQ(result.examples[1], "- a|2.97852|1");
}

TEST(RowDiff, ExactPartsAndMultiplicitiesCount) {
  RowDiff diff;
  diff.AddHeld(R("a", 1.0, 1));
  diff.AddHeld(R("a", 1.0, 1));  // held twice, computed once
  diff.AddHeld(R("b", 1.0, 2));  // an int differs
  diff.AddComputed(R("a", 1.0, 1));
  diff.AddComputed(R("b", 1.0, 3));
  diff.AddComputed(R("c", 5.0, 1));  // missing
  diff.AddHeld({Value::Text("d"), Value::Null(), Value::Int(1)});
  diff.AddComputed({Value::Text("d"), Value::Null(), Value::Int(1)});
  RowDiff::Result result = diff.Finish(1);
  EXPECT_EQ(result.unexpected, 2);
  EXPECT_EQ(result.missing, 2);
  EXPECT_EQ(result.examples.size(), 1u);
}

TEST(RowDiff, NearEqualPairsMatchAmongManyInOneGroup) {
  RowDiff diff;
  for (int i = 0; i < 100; ++i) {
    diff.AddHeld(R("g", i * 0.1, 0));
    diff.AddComputed(R("g", (99 - i) * 0.1 * (1 + 1e-13), 0));
  }
  RowDiff::Result result = diff.Finish(5);
  EXPECT_EQ(result.missing, 0);
  EXPECT_EQ(result.unexpected, 0);
}

// verify against the source compares one key's rows column by column.
TEST(RowsAgree, RealsWithinToleranceAgreeAndEverythingElseIsExact) {
  EXPECT_TRUE(RowsAgree(R("a", 2.9785156249999996, 1), R("a", 2.978515625000001, 1)));
  EXPECT_FALSE(RowsAgree(R("a", 2.97851, 1), R("a", 2.97852, 1)));
  EXPECT_FALSE(RowsAgree(R("a", 1.0, 1), R("a", 1.0, 2)));
  EXPECT_FALSE(RowsAgree(R("a", 1.0, 1), R("b", 1.0, 1)));
  EXPECT_FALSE(RowsAgree(R("a", 1.0, 1), {Value::Text("a"), Value::Null(), Value::Int(1)}));
  EXPECT_FALSE(RowsAgree(R("a", 1.0, 1), {Value::Text("a"), Value::Real(1.0)}));
}

}  // namespace
}  // namespace sv::engine
