#include "common/position.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace sv {
namespace {

constexpr absl::string_view kTokenPrefix = "sv1.";

absl::Status Malformed(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "not a position: ", why,
      " (expected a token from X-StreamView-Position, or <partition>:<position>,...)"));
}

// "<partition>:<position>,..." with the partition named by `partition_of`.
absl::StatusOr<Position> ParsePairs(absl::string_view text,
                                    const Position::LabelResolver& partition_of) {
  Position out;
  for (absl::string_view pair : absl::StrSplit(text, ',')) {
    const size_t colon = pair.rfind(':');
    if (colon == absl::string_view::npos) return Malformed(absl::StrCat("'", pair, "' has no ':'"));
    const absl::string_view label = pair.substr(0, colon);
    int64_t position = 0;
    if (!absl::SimpleAtoi(pair.substr(colon + 1), &position) || position < 0) {
      return Malformed(absl::StrCat("'", pair, "' has no non-negative integer after ':'"));
    }
    const std::optional<int32_t> partition = partition_of({label.data(), label.size()});
    if (!partition) return Malformed(absl::StrCat("the source has no partition '", label, "'"));
    if (out.partitions().contains(*partition)) {
      return Malformed(absl::StrCat("partition '", label, "' is named twice"));
    }
    out.Set(*partition, position);
  }
  return out;
}

std::optional<int32_t> PartitionId(std::string_view text) {
  int32_t id = 0;
  if (!absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &id) || id < 0) {
    return std::nullopt;
  }
  return id;
}

}  // namespace

int64_t Position::at(int32_t partition) const {
  auto it = partitions_.find(partition);
  return it == partitions_.end() ? 0 : it->second;
}

bool Position::Covers(const Position& other) const {
  for (const auto& [partition, position] : other.partitions_) {
    if (at(partition) < position) return false;
  }
  return true;
}

std::string Position::ToToken() const {
  std::vector<std::string> pairs;
  for (const auto& [partition, position] : partitions_) {
    pairs.push_back(absl::StrCat(partition, ":", position));
  }
  return absl::StrCat(kTokenPrefix, absl::WebSafeBase64Escape(absl::StrJoin(pairs, ",")));
}

absl::StatusOr<Position> Position::Parse(absl::string_view text,
                                         const LabelResolver& partition_of) {
  if (text.empty()) return Malformed("empty");
  if (!absl::StartsWith(text, kTokenPrefix)) return ParsePairs(text, partition_of);
  std::string payload;
  if (!absl::WebSafeBase64Unescape(text.substr(kTokenPrefix.size()), &payload)) {
    return Malformed("the token is not base64url");
  }
  if (payload.empty()) return Position();  // the token of a source that applied nothing
  return ParsePairs(payload, PartitionId);
}

}  // namespace sv
