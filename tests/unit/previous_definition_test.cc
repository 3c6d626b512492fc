// A view's `previous:` definition (blue/green with a changed definition): compiled like the view
// it was, so its hash is the one the serving version was built with, and set aside until an
// engine runs it.

#include <string>

#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "projection/projection.h"

namespace sv {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kSources[] = R"yaml(sources:
  orders:
    key: orderId
    event_types: [OrderCreated, OrderPaid]
views:
)yaml";

// Version 1 of the view, as a config's `views:` entry body (indented under the view name).
constexpr char kVersion1[] = R"yaml(    source: orders
    key: [order_id]
    columns:
      order_id: text
      amount: int
    on:
      OrderCreated:
        set:
          order_id: e.orderId
          amount: e.amount
)yaml";

// Version 2: declared version and a changed column expression.
constexpr char kVersion2[] = R"yaml(    source: orders
    version: 2
    key: [order_id]
    columns:
      order_id: text
      amount: int
    on:
      OrderCreated:
        set:
          order_id: e.orderId
          amount: e.amount * 100
)yaml";

// `text` indented by `spaces` more on each line.
std::string Indent(const std::string& text, int spaces) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    out += std::string(spaces, ' ') + text.substr(start, end - start + 1);
    start = end + 1;
  }
  return out;
}

absl::StatusOr<std::unique_ptr<projection::Catalog>> CompileText(const std::string& text) {
  auto config = config::ParseConfig(text, "views.yaml");
  if (!config.ok()) return config.status();
  return projection::Compile(*config);
}

TEST(PreviousDefinitionTest, CompilesToTheHashTheOldConfigGave) {
  auto v1 = CompileText(absl::StrCat(kSources, "  orders_view:\n", kVersion1));
  ASSERT_TRUE(v1.ok()) << v1.status();
  auto v2 = CompileText(absl::StrCat(kSources, "  orders_view:\n", kVersion2));
  ASSERT_TRUE(v2.ok()) << v2.status();
  auto both = CompileText(absl::StrCat(kSources, "  orders_view:\n", kVersion2, "    previous:\n",
                                       Indent(kVersion1, 2)));
  ASSERT_TRUE(both.ok()) << both.status();

  const projection::Catalog& c = **both;
  ASSERT_EQ(c.views.size(), 1u);  // set aside: no source feeds it, no route serves it
  ASSERT_EQ(c.previous_views.size(), 1u);
  const projection::ViewPlan& view = c.views[0];
  const projection::ViewPlan& previous = c.previous_views[0];
  EXPECT_EQ(view.definition_hash, (*v2)->views[0].definition_hash);
  EXPECT_EQ(previous.definition_hash, (*v1)->views[0].definition_hash);
  EXPECT_NE(previous.definition_hash, view.definition_hash);
  EXPECT_EQ(view.previous, 1);  // its index once appended to `views`
  EXPECT_EQ(previous.previous_of, 0);
  EXPECT_EQ(previous.name, "orders_view#previous");
  EXPECT_TRUE(previous.internal);
  EXPECT_EQ(c.FindView("orders_view"), 0);
  EXPECT_EQ(c.sources[0].views, std::vector<int>{0});
}

TEST(PreviousDefinitionTest, ErrorsNameFileAndLine) {
  // Nested twice.
  std::string nested =
      absl::StrCat(kSources, "  orders_view:\n", kVersion2, "    previous:\n", Indent(kVersion1, 2),
                   "      previous:\n", Indent(kVersion1, 4));
  auto r = CompileText(nested);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), StartsWith("views.yaml:"));
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("'previous' of view 'orders_view' cannot have"));
  // A mistake inside it is reported where it is.
  std::string wrong = absl::StrCat(kSources, "  orders_view:\n", kVersion2, "    previous:\n",
                                   Indent(kVersion1, 2));
  wrong.replace(wrong.rfind("e.amount"), 8, "e.amount +");
  r = CompileText(wrong);
  ASSERT_FALSE(r.ok());
  // Line 28: the last line of the previous: definition (`amount: e.amount +`).
  EXPECT_THAT(std::string(r.status().message()), StartsWith("views.yaml:28:"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("syntax error"));
}

}  // namespace
}  // namespace sv
