#pragma once
// The records of one source transaction while it is received and then handed over: in memory up
// to a limit, past it in an unlinked temporary file, so a transaction of any size takes bounded
// memory. Records of a subtransaction rolled back (a streamed transaction's Stream Abort) are
// dropped as they are read back.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "source/source.h"

namespace sv::source::pg {

class TxSpool {
 public:
  // `memory_records`: how many records stay in memory before they go to a file in `dir`.
  TxSpool(size_t memory_records, std::string dir);
  TxSpool(const TxSpool&) = delete;
  TxSpool& operator=(const TxSpool&) = delete;

  // Appends a record of (sub)transaction `subxid`. Unavailable when the file cannot be written
  // (a full disk): nothing is acknowledged, so the transaction comes again.
  absl::Status Add(uint32_t subxid, SourceRecord record);
  // Every record of `subxid` added so far is dropped.
  void Abort(uint32_t subxid);
  // Records added and not dropped.
  int64_t Kept() const { return added_ - dropped_; }
  bool spilled() const { return file_ != nullptr; }

  // Reading back, in the order added, without the dropped records. Adding is over.
  // Appends up to `max` records to `out` (not cleared); false once every record was read.
  absl::StatusOr<bool> Next(size_t max, std::vector<SourceRecord>* out);

 private:
  struct Entry {
    uint32_t subxid = 0;
    SourceRecord record;
  };
  absl::Status Spill(const Entry& entry);
  absl::StatusOr<bool> ReadSpilled(Entry* entry);

  size_t memory_records_;
  std::string dir_;
  std::vector<Entry> memory_;  // the first records (all of them until the limit)
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, FileCloser> file_;  // the rest
  int64_t spilled_ = 0;
  int64_t added_ = 0;
  int64_t dropped_ = 0;
  absl::flat_hash_map<uint32_t, int64_t> per_subxid_;
  absl::flat_hash_set<uint32_t> aborted_;
  // Reading: the next record in memory, then how many spilled ones were read.
  bool reading_ = false;
  size_t next_in_memory_ = 0;
  int64_t spilled_read_ = 0;
  std::string scratch_;
};

}  // namespace sv::source::pg
