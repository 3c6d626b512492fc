#include "lookup/lookup_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace sv::lookup {
namespace {

TEST(LookupIndexTest, FoldLowersAsciiAndCollapsesSeparators) {
  EXPECT_EQ(FoldLabel("  ACME-Trans, GmbH  "), "acme trans gmbh");
  EXPECT_EQ(FoldLabel("Ölwerk AG"), "\xc3\x96lwerk ag");  // non-ASCII bytes kept as they are
  EXPECT_EQ(FoldLabel("---"), "");
}

TEST(LookupIndexTest, RanksLabelStartsBeforeLaterWordsAndListsEachEntryOnce) {
  LookupIndex index;
  index.Put("1", "", "Global Acme", "g");
  index.Put("2", "", "Acme Corp", "c");
  index.Put("3", "", "acme acme", "aa");
  index.Put("4", "", "Zeta", "z");
  EXPECT_EQ(index.Search("", "ACME", 10), (std::vector<std::string>{"aa", "c", "g"}));
  EXPECT_EQ(index.Search("", "acme c", 10), (std::vector<std::string>{"c"}));
  EXPECT_EQ(index.Search("", "", 2), (std::vector<std::string>{"aa", "c"}));
  EXPECT_EQ(index.Search("", "cme", 10), std::vector<std::string>{});  // words, not infixes
}

TEST(LookupIndexTest, ScopesAreApartAndChangesTakeEffectAtOnce) {
  LookupIndex index;
  index.Put("1", "org-a", "Acme", "a1");
  index.Put("2", "org-b", "Acme", "b2");
  EXPECT_EQ(index.Search("org-a", "ac", 10), (std::vector<std::string>{"a1"}));
  index.Put("1", "org-a", "Zebra Freight", "a1'");  // renamed: found under its new name only
  EXPECT_EQ(index.Search("org-a", "ac", 10), std::vector<std::string>{});
  EXPECT_EQ(index.Search("org-a", "fre", 10), (std::vector<std::string>{"a1'"}));
  index.Erase("2");
  EXPECT_EQ(index.Search("org-b", "", 10), std::vector<std::string>{});
  EXPECT_EQ(index.size(), 1u);
}

// Random labels, puts, renames and erases against a brute-force ranking of the same entries.
TEST(LookupIndexTest, MatchesABruteForceOracle) {
  std::mt19937 rng(20261205);
  const std::vector<std::string> words = {"acme",      "Ac", "ACE", "trans",       "Transit", "log",
                                          "logistics", "b",  "Bo",  "z\xc3\xa9ta", "x-y"};
  struct Item {
    std::string scope, label;
  };
  std::map<std::string, Item> items;
  LookupIndex index;
  for (int step = 0; step < 4000; ++step) {
    const std::string key = "k" + std::to_string(rng() % 300);
    if (rng() % 5 == 0) {
      items.erase(key);
      index.Erase(key);
      continue;
    }
    std::string label;
    for (int w = 0, n = 1 + static_cast<int>(rng() % 3); w < n; ++w) {
      label += (w > 0 ? (rng() % 2 ? " " : ", ") : "") + words[rng() % words.size()];
    }
    const std::string scope = rng() % 2 ? "s1" : "s2";
    items[key] = {scope, label};
    index.Put(key, scope, label, key);
  }
  for (const std::string query : {"", "a", "AC", "acme t", "tr", "log", "z\xc3\xa9", "x y", "q"}) {
    for (const std::string scope : {"s1", "s2"}) {
      const std::string q = FoldLabel(query);
      // (class, text it ranks by, key)
      std::set<std::tuple<int, std::string, std::string>> ranked;
      for (const auto& [key, item] : items) {
        if (item.scope != scope) continue;
        const std::string folded = FoldLabel(item.label);
        if (folded.compare(0, q.size(), q) == 0) {
          ranked.insert({0, folded, key});
          continue;
        }
        for (size_t i = 1; i < folded.size() && !q.empty(); ++i) {
          if (folded[i - 1] == ' ' && folded.compare(i, q.size(), q) == 0) {
            ranked.insert({1, folded.substr(i), key});
          }
        }
      }
      // A label may match at several later words: it ranks by the smallest matching suffix.
      std::map<std::string, std::tuple<int, std::string>> best;
      for (const auto& [cls, text, key] : ranked) {
        auto it = best.find(key);
        if (it == best.end() || std::make_tuple(cls, text) < it->second) best[key] = {cls, text};
      }
      std::vector<std::tuple<int, std::string, std::string>> order;
      for (const auto& [key, rank] : best)
        order.push_back({std::get<0>(rank), std::get<1>(rank), key});
      std::sort(order.begin(), order.end());
      std::vector<std::string> want;
      for (const auto& t : order) {
        if (want.size() < 7) want.push_back(std::get<2>(t));
      }
      EXPECT_EQ(index.Search(scope, query, 7), want) << "query '" << query << "' in " << scope;
    }
  }
}

}  // namespace
}  // namespace sv::lookup
