#pragma once
// An in-memory autocomplete index: entries found by a case-insensitive prefix of their label's
// words, ranked (labels that start with the query first, then labels with a later word that
// does; each group in label order), within one scope (a tenant), in O(limit · log n) per search
// whatever the number of matches. Thread-safe: searches share a lock, changes take it alone.

#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/node_hash_map.h"

namespace sv::lookup {

// The label as it is compared: ASCII letters lowered, every run of characters other than
// letters and digits (ASCII) one space, no leading or trailing space; other bytes (UTF-8) kept.
std::string FoldLabel(std::string_view label);

class LookupIndex {
 public:
  // Adds or replaces the entry `key` (any unique bytes, e.g. an encoded primary key). `payload`
  // is what a search returns for it (e.g. its JSON).
  void Put(const std::string& key, std::string scope, std::string_view label, std::string payload);
  void Erase(const std::string& key);
  void Clear();
  struct Item {
    std::string key, scope, label, payload;
  };
  // Replaces every entry with `items` (a later item with the same key wins): a first load,
  // several times faster than one Put each (the index is built from sorted runs).
  void Replace(std::vector<Item> items);
  size_t size() const;

  // The payloads of at most `limit` entries of `scope` whose label has a word starting with
  // `query` (folded as labels are; an empty query matches every entry), best first.
  std::vector<std::string> Search(std::string_view scope, std::string_view query,
                                  size_t limit) const;

 private:
  struct Entry {
    std::string scope;
    std::string folded;  // FoldLabel(label)
    std::string payload;
  };
  // (scope, the folded label from a word's start on, key): a word's suffix, so a query may run
  // across words ("acme co"). Views point into the entries (node_hash_map: stable addresses).
  using Slot = std::tuple<std::string_view, std::string_view, std::string_view>;

  void Unindex(const std::string& key, const Entry& entry);
  void Collect(const absl::btree_set<Slot>& index, std::string_view scope, std::string_view query,
               size_t limit, std::vector<std::string_view>* keys) const;

  mutable std::shared_mutex mu_;
  absl::node_hash_map<std::string, Entry> entries_;
  absl::btree_set<Slot> starts_;  // the whole label: matches rank first
  absl::btree_set<Slot> words_;   // from each later word on
};

}  // namespace sv::lookup
