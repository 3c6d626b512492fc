// PostgreSQL binary integer fields of an unexpected width (a column altered to another type
// behind the store's back) are an error, where they used to read as 0: a gate state read as
// "nothing applied" would apply every event of the key again.

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "store_backends.h"

namespace sv::store {
namespace {

class PgFieldWidthTest : public BackendTest {};
INSTANTIATE_TEST_SUITE_P(Backends, PgFieldWidthTest, ::testing::Values("postgres"), BackendName);

TEST_P(PgFieldWidthTest, AnIntegerColumnOfAnotherWidthIsAnErrorNotZero) {
  auto store = OpenAs(StoreRole::kWriter);
  ASSERT_NE(store, nullptr);
  auto batch = store->BeginBatch();
  ASSERT_TRUE(batch->PutKeyState("s", {"k", 41, 0}).ok());
  ASSERT_TRUE(batch->SetPosition("s", 0, 7).ok());
  ASSERT_TRUE(batch->Commit().ok());
  auto state = store->GetKeyState("s", "k");
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ((*state)->last_sequence, 41);

  const std::string alter = absl::StrCat(
      "psql \"", options_.dsn, "\" -X -q -v ON_ERROR_STOP=1 -c \"ALTER TABLE ", options_.schema,
      ".sv_keys ALTER COLUMN last_sequence TYPE integer; ALTER TABLE ", options_.schema,
      ".sv_positions ALTER COLUMN position TYPE integer\"");
  ASSERT_EQ(std::system(alter.c_str()), 0) << alter;

  auto reopened = OpenAs(StoreRole::kWriter);
  ASSERT_NE(reopened, nullptr);
  state = reopened->GetKeyState("s", "k");
  ASSERT_FALSE(state.ok()) << "read as " << (*state)->last_sequence;
  EXPECT_EQ(state.status().code(), absl::StatusCode::kDataLoss) << state.status();
  EXPECT_NE(std::string(state.status().message()).find("last_sequence"), std::string::npos)
      << state.status();
  auto positions = reopened->GetPositions("s");
  EXPECT_FALSE(positions.ok());
}

}  // namespace
}  // namespace sv::store
