#pragma once
// Filters of a ViewQuery evaluated on a row in memory (defined in store/open.cc, by the memory
// store's evaluation), for rows not read from a store: a subscription's changes.

#include <vector>

#include "store/store.h"

namespace sv::store {

// Whether `row` (laid out as its view's columns) passes every filter, ANDed, as every store
// evaluates a ViewQuery's: NULL matches nothing, prefix/contains are case-insensitive on text.
bool RowMatches(const Row& row, const std::vector<Filter>& filters);

}  // namespace sv::store
