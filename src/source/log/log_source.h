#pragma once
// Tails the embedded log kept in the store (one partition, offsets = log positions).

#include <memory>

#include "source/source.h"
#include "store/store.h"

namespace sv::source {

// `log` must outlive the source; the source only reads the log.
std::unique_ptr<Source> NewLogSource(store::LogStore* store);

}  // namespace sv::source
