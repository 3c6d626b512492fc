#include "lookup/lookup_index.h"

#include <algorithm>
#include <mutex>
#include <utility>

#include "absl/strings/string_view.h"

namespace sv::lookup {
namespace {

bool IsWordByte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

// Offsets in a folded label where its later words start.
std::vector<size_t> LaterWordStarts(std::string_view folded) {
  std::vector<size_t> out;
  for (size_t i = 1; i < folded.size(); ++i) {
    if (folded[i - 1] == ' ') out.push_back(i);
  }
  return out;
}

}  // namespace

std::string FoldLabel(std::string_view label) {
  std::string out;
  out.reserve(label.size());
  bool gap = false;
  for (unsigned char c : label) {
    if (!IsWordByte(c)) {
      gap = !out.empty();
      continue;
    }
    if (gap) out.push_back(' ');
    gap = false;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c));
  }
  return out;
}

void LookupIndex::Put(const std::string& key, std::string scope, std::string_view label,
                      std::string payload) {
  std::unique_lock lock(mu_);
  auto [it, fresh] = entries_.try_emplace(key);
  if (!fresh) Unindex(it->first, it->second);
  Entry& e = it->second;
  e.scope = std::move(scope);
  e.folded = FoldLabel(label);
  e.payload = std::move(payload);
  const std::string_view folded = e.folded;
  starts_.insert({e.scope, folded, it->first});
  for (size_t at : LaterWordStarts(folded)) words_.insert({e.scope, folded.substr(at), it->first});
}

void LookupIndex::Erase(const std::string& key) {
  std::unique_lock lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Unindex(it->first, it->second);
  entries_.erase(it);
}

void LookupIndex::Clear() {
  std::unique_lock lock(mu_);
  starts_.clear();
  words_.clear();
  entries_.clear();
}

void LookupIndex::Replace(std::vector<Item> items) {
  std::unique_lock lock(mu_);
  starts_.clear();
  words_.clear();
  entries_.clear();
  entries_.reserve(items.size());
  for (Item& item : items) {
    auto [it, fresh] = entries_.try_emplace(std::move(item.key));
    Entry& e = it->second;
    e.scope = std::move(item.scope);
    e.folded = FoldLabel(item.label);
    e.payload = std::move(item.payload);
  }
  items = {};
  // Sorting tuples of views compares bytes behind pointers; most comparisons are decided by
  // the scope's rank and the text's first 8 bytes, held inline as integers.
  std::vector<std::string_view> scopes;
  for (const auto& [key, e] : entries_) scopes.push_back(e.scope);
  std::sort(scopes.begin(), scopes.end());
  scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
  struct Sortable {
    uint32_t scope;
    uint64_t head;
    Slot slot;
    bool operator<(const Sortable& o) const {
      if (scope != o.scope) return scope < o.scope;
      if (head != o.head) return head < o.head;
      return slot < o.slot;
    }
  };
  auto sortable = [&](const Slot& slot) {
    const std::string_view text = std::get<1>(slot);
    uint64_t head = 0;
    for (size_t i = 0; i < 8; ++i) {
      head = (head << 8) | (i < text.size() ? static_cast<unsigned char>(text[i]) : 0);
    }
    const auto rank = std::lower_bound(scopes.begin(), scopes.end(), std::get<0>(slot));
    return Sortable{static_cast<uint32_t>(rank - scopes.begin()), head, slot};
  };
  std::vector<Sortable> starts, words;
  starts.reserve(entries_.size());
  words.reserve(entries_.size());
  for (const auto& [key, e] : entries_) {
    const std::string_view folded = e.folded;
    starts.push_back(sortable({e.scope, folded, key}));
    for (size_t at : LaterWordStarts(folded)) {
      words.push_back(sortable({e.scope, folded.substr(at), key}));
    }
  }
  std::sort(starts.begin(), starts.end());
  std::sort(words.begin(), words.end());
  // Sorted input goes in at the end, without a search from the root per element.
  for (const Sortable& s : starts) starts_.insert(starts_.end(), s.slot);
  for (const Sortable& s : words) words_.insert(words_.end(), s.slot);
}

size_t LookupIndex::size() const {
  std::shared_lock lock(mu_);
  return entries_.size();
}

void LookupIndex::Unindex(const std::string& key, const Entry& entry) {
  const std::string_view folded = entry.folded;
  starts_.erase({entry.scope, folded, key});
  for (size_t at : LaterWordStarts(folded)) words_.erase({entry.scope, folded.substr(at), key});
}

void LookupIndex::Collect(const absl::btree_set<Slot>& index, std::string_view scope,
                          std::string_view query, size_t limit,
                          std::vector<std::string_view>* keys) const {
  for (auto it = index.lower_bound({scope, query, std::string_view()});
       it != index.end() && keys->size() < limit; ++it) {
    const auto& [s, text, key] = *it;
    if (s != scope || text.substr(0, query.size()) != query) break;
    // A label with several matching words is listed once, at its best place.
    if (std::find(keys->begin(), keys->end(), key) == keys->end()) keys->push_back(key);
  }
}

std::vector<std::string> LookupIndex::Search(std::string_view scope, std::string_view query,
                                             size_t limit) const {
  const std::string folded = FoldLabel(query);
  std::shared_lock lock(mu_);
  std::vector<std::string_view> keys;
  keys.reserve(limit);
  Collect(starts_, scope, folded, limit, &keys);
  if (!folded.empty()) Collect(words_, scope, folded, limit, &keys);
  std::vector<std::string> out;
  out.reserve(keys.size());
  for (std::string_view key : keys)
    out.push_back(entries_.find(absl::string_view(key.data(), key.size()))->second.payload);
  return out;
}

}  // namespace sv::lookup
