#include "engine/row_diff.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sv::engine {
namespace {

constexpr char kRealPlaceholder[] = "\x01";

bool Close(double a, double b, double tolerance) {
  if (a == b) return true;
  return std::fabs(a - b) <= tolerance * std::max({1.0, std::fabs(a), std::fabs(b)});
}

bool Close(const std::vector<double>& a, const std::vector<double>& b, double tolerance) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (!Close(a[i], b[i], tolerance)) return false;
  }
  return true;
}

// The exact part with each real put back, for an example line.
std::string Render(const std::string& exact, const std::vector<double>& reals) {
  std::string out;
  size_t next = 0;
  for (char c : exact) {
    if (c == kRealPlaceholder[0] && next < reals.size()) {
      absl::StrAppend(&out, absl::StrFormat("%.12g", reals[next++]));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

bool RowsAgree(const Row& a, const Row& b, double relative_tolerance) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].type() == Type::kReal && b[i].type() == Type::kReal) {
      if (!Close(a[i].as_real(), b[i].as_real(), relative_tolerance)) return false;
    } else if (!(a[i] == b[i])) {
      return false;
    }
  }
  return true;
}

void RowDiff::Add(const Row& row, std::vector<Reals> Group::*side) {
  std::string exact;
  Reals reals;
  for (const Value& v : row) {
    if (!exact.empty()) exact.push_back('|');
    if (v.type() == Type::kReal) {
      exact.append(kRealPlaceholder);
      reals.push_back(v.as_real());
    } else {
      absl::StrAppend(&exact, v.is_null() ? "NULL" : v.ToString());
    }
  }
  (groups_[exact].*side).push_back(std::move(reals));
}

RowDiff::Result RowDiff::Finish(size_t max_examples, double relative_tolerance) const {
  Result result;
  auto note = [&](const char* sign, const std::string& exact, const Reals& reals) {
    if (result.examples.size() < max_examples) {
      result.examples.push_back(absl::StrCat(sign, Render(exact, reals)));
    }
  };
  for (const auto& [exact, group] : groups_) {
    std::vector<Reals> held = group.held;
    std::vector<Reals> computed = group.computed;
    std::sort(held.begin(), held.end());
    std::sort(computed.begin(), computed.end());
    // Both sorted: a near-equal pair sits at the two cursors together; otherwise the smaller
    // side has no partner.
    size_t h = 0;
    size_t c = 0;
    while (h < held.size() && c < computed.size()) {
      if (Close(held[h], computed[c], relative_tolerance)) {
        ++h;
        ++c;
      } else if (held[h] < computed[c]) {
        ++result.unexpected;
        note("+ ", exact, held[h++]);
      } else {
        ++result.missing;
        note("- ", exact, computed[c++]);
      }
    }
    for (; h < held.size(); ++h) {
      ++result.unexpected;
      note("+ ", exact, held[h]);
    }
    for (; c < computed.size(); ++c) {
      ++result.missing;
      note("- ", exact, computed[c]);
    }
  }
  return result;
}

}  // namespace sv::engine
