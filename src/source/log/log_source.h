#pragma once
// Tails the embedded log kept in the store (one partition, offsets = log positions).

#include <memory>

#include "source/source.h"
#include "store/store.h"

namespace sv::source {

// `store` must outlive the source.
std::unique_ptr<Source> NewLogSource(store::Store* store);

}  // namespace sv::source
