#include "source/pg_changes/tx_spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace sv::source::pg {
namespace {

// A spilled record: fixed-width integers, then length-prefixed strings (host byte order: the
// file lives and dies with this process).
void PutInt(std::string* out, int64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }
void PutString(std::string* out, const std::string& s) {
  PutInt(out, static_cast<int64_t>(s.size()));
  out->append(s);
}

class Cursor {
 public:
  explicit Cursor(const std::string& data) : data_(data) {}
  int64_t Int() {
    int64_t v = 0;
    if (pos_ + 8 > data_.size()) return 0;
    std::memcpy(&v, data_.data() + pos_, 8);
    pos_ += 8;
    return v;
  }
  std::string String() {
    const auto n = static_cast<size_t>(Int());
    std::string s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  const std::string& data_;
  size_t pos_ = 0;
};

}  // namespace

TxSpool::TxSpool(size_t memory_records, std::string dir)
    : memory_records_(memory_records), dir_(std::move(dir)) {}

absl::Status TxSpool::Add(uint32_t subxid, SourceRecord record) {
  ++added_;
  ++per_subxid_[subxid];
  Entry entry{subxid, std::move(record)};
  if (memory_.size() < memory_records_) {
    memory_.push_back(std::move(entry));
    return absl::OkStatus();
  }
  return Spill(entry);
}

void TxSpool::Abort(uint32_t subxid) {
  if (!aborted_.insert(subxid).second) return;
  auto it = per_subxid_.find(subxid);
  if (it != per_subxid_.end()) dropped_ += it->second;
}

absl::Status TxSpool::Spill(const Entry& entry) {
  if (file_ == nullptr) {
    // Unlinked from the start: a crash leaves nothing behind.
    const std::string dir = dir_.empty() ? "/tmp" : dir_;
    const int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    std::FILE* f = fd < 0 ? nullptr : fdopen(fd, "w+b");
    if (f == nullptr) {
      const int err = errno;
      if (fd >= 0) close(fd);
      return absl::UnavailableError(
          absl::StrCat("spooling a large source transaction in ", dir, ": ", std::strerror(err)));
    }
    file_.reset(f);
  }
  scratch_.clear();
  PutInt(&scratch_, entry.subxid);
  PutInt(&scratch_, entry.record.partition);
  PutInt(&scratch_, entry.record.offset);
  PutInt(&scratch_, entry.record.log_time_us);
  PutString(&scratch_, entry.record.value);
  PutInt(&scratch_, entry.record.key.has_value() ? 1 : 0);
  PutString(&scratch_, entry.record.key.value_or(""));
  PutString(&scratch_, entry.record.routing_key);
  PutInt(&scratch_, static_cast<int64_t>(entry.record.headers.size()));
  for (const auto& [name, value] : entry.record.headers) {
    PutString(&scratch_, name);
    PutString(&scratch_, value);
  }
  const auto size = static_cast<int64_t>(scratch_.size());
  if (std::fwrite(&size, 8, 1, file_.get()) != 1 ||
      std::fwrite(scratch_.data(), 1, scratch_.size(), file_.get()) != scratch_.size()) {
    return absl::UnavailableError(absl::StrCat("spooling a large source transaction in ",
                                               dir_.empty() ? "/tmp" : dir_, ": ",
                                               std::strerror(errno)));
  }
  ++spilled_;
  return absl::OkStatus();
}

absl::StatusOr<bool> TxSpool::ReadSpilled(Entry* entry) {
  int64_t size = 0;
  if (std::fread(&size, 8, 1, file_.get()) != 1 || size < 0) {
    return absl::DataLossError("the spooled source transaction cannot be read back");
  }
  scratch_.resize(static_cast<size_t>(size));
  if (std::fread(scratch_.data(), 1, scratch_.size(), file_.get()) != scratch_.size()) {
    return absl::DataLossError("the spooled source transaction cannot be read back");
  }
  Cursor c(scratch_);
  entry->subxid = static_cast<uint32_t>(c.Int());
  SourceRecord& r = entry->record;
  r.partition = static_cast<int32_t>(c.Int());
  r.offset = c.Int();
  r.log_time_us = c.Int();
  r.value = c.String();
  const bool has_key = c.Int() != 0;
  std::string key = c.String();
  r.key.reset();  // `entry` is reused: nothing of the record before may stay
  if (has_key) r.key = std::move(key);
  r.continues = false;
  r.routing_key = c.String();
  const int64_t headers = c.Int();
  r.headers.clear();
  for (int64_t i = 0; i < headers; ++i) {
    std::string name = c.String();
    r.headers.emplace_back(std::move(name), c.String());
  }
  return true;
}

absl::StatusOr<bool> TxSpool::Next(size_t max, std::vector<SourceRecord>* out) {
  if (!reading_) {
    reading_ = true;
    if (file_ != nullptr &&
        (std::fflush(file_.get()) != 0 || std::fseek(file_.get(), 0, SEEK_SET) != 0)) {
      return absl::UnavailableError(
          absl::StrCat("reading back a spooled source transaction: ", std::strerror(errno)));
    }
  }
  size_t taken = 0;
  while (taken < max && next_in_memory_ < memory_.size()) {
    Entry& e = memory_[next_in_memory_++];
    if (aborted_.contains(e.subxid)) continue;
    out->push_back(std::move(e.record));
    ++taken;
  }
  if (next_in_memory_ == memory_.size() && !memory_.empty()) {
    memory_.clear();  // read: its memory goes back before the file is read
    memory_.shrink_to_fit();
    next_in_memory_ = 0;
  }
  Entry e;
  while (taken < max && spilled_read_ < spilled_) {
    SV_RETURN_IF_ERROR(ReadSpilled(&e).status());
    ++spilled_read_;
    if (aborted_.contains(e.subxid)) continue;
    out->push_back(std::move(e.record));
    ++taken;
  }
  return !memory_.empty() || spilled_read_ < spilled_;
}

}  // namespace sv::source::pg
