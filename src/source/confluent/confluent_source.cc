#include "source/confluent/confluent_source.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace sv::source {
namespace {

// Strips the frame of each record, names its schema id in a header and makes sure the registry
// knows it. Unavailable when the registry cannot be asked: nothing of `records` may be applied.
absl::Status Unframe(contracts::SchemaRegistry& registry, const std::string& source_name,
                     std::vector<SourceRecord>* records) {
  int32_t last_known = -1;  // runs of one id are the rule: ask the registry's cache once a run
  for (SourceRecord& r : *records) {
    std::erase_if(r.headers, [](const auto& h) {
      return h.first == contracts::kSchemaIdHeader || h.first == contracts::kFrameErrorHeader;
    });
    absl::StatusOr<contracts::Frame> frame = contracts::Unframe(r.value);
    if (!frame.ok()) {
      r.headers.emplace_back(contracts::kFrameErrorHeader, std::string(frame.status().message()));
      continue;
    }
    const int32_t id = frame->schema_id;
    r.value.erase(0, r.value.size() - frame->payload.size());
    r.headers.emplace_back(contracts::kSchemaIdHeader, absl::StrCat(id));
    if (id == last_known) continue;
    absl::StatusOr<std::shared_ptr<const contracts::Contract>> schema = registry.Schema(id);
    if (absl::IsUnavailable(schema.status())) {
      return absl::UnavailableError(absl::StrCat("source '", source_name, "': schema id ", id,
                                                 " of ", "partition ", r.partition, " offset ",
                                                 r.offset, ": ", schema.status().message()));
    }
    // A missing or unusable schema is the record's fault: the decoder dead-letters it.
    last_known = id;
  }
  return absl::OkStatus();
}

class ConfluentReplay final : public ReplayReader {
 public:
  ConfluentReplay(std::unique_ptr<ReplayReader> inner,
                  std::shared_ptr<contracts::SchemaRegistry> registry, std::string source_name)
      : inner_(std::move(inner)), registry_(std::move(registry)), name_(std::move(source_name)) {}

  absl::Status Next(size_t max, std::vector<SourceRecord>* out) override {
    SV_RETURN_IF_ERROR(inner_->Next(max, out));
    return Unframe(*registry_, name_, out);
  }
  std::map<int32_t, int64_t> Ends() const override { return inner_->Ends(); }
  int64_t EstimatedRecords() const override { return inner_->EstimatedRecords(); }
  bool Holds(const SourceRecord& live) const override { return inner_->Holds(live); }

 private:
  std::unique_ptr<ReplayReader> inner_;
  std::shared_ptr<contracts::SchemaRegistry> registry_;
  std::string name_;
};

class ConfluentSource final : public Source {
 public:
  ConfluentSource(std::unique_ptr<Source> inner,
                  std::shared_ptr<contracts::SchemaRegistry> registry, std::string source_name)
      : inner_(std::move(inner)), registry_(std::move(registry)), name_(std::move(source_name)) {}

  absl::Status Seek(const std::map<int32_t, int64_t>& after) override {
    return inner_->Seek(after);
  }
  absl::Status Poll(size_t max, int timeout_ms, std::vector<SourceRecord>* out) override {
    SV_RETURN_IF_ERROR(inner_->Poll(max, timeout_ms, out));
    absl::Status unframed = Unframe(*registry_, name_, out);
    if (!unframed.ok()) out->clear();
    return unframed;
  }
  absl::StatusOr<std::map<int32_t, int64_t>> EndOffsets() override { return inner_->EndOffsets(); }
  absl::StatusOr<std::unique_ptr<ReplayReader>> OpenReplay(
      const std::optional<std::map<int32_t, int64_t>>& until, bool allow_partial) override {
    SV_ASSIGN_OR_RETURN(std::unique_ptr<ReplayReader> replay,
                        inner_->OpenReplay(until, allow_partial));
    return Wrap(std::move(replay));
  }
  absl::StatusOr<std::unique_ptr<ReplayReader>> OpenSnapshotBeside(
      const SnapshotFilter& filter) override {
    SV_ASSIGN_OR_RETURN(std::unique_ptr<ReplayReader> replay, inner_->OpenSnapshotBeside(filter));
    return Wrap(std::move(replay));
  }
  void MarkPositionSoon() override { inner_->MarkPositionSoon(); }
  void AfterCommit(const std::map<int32_t, int64_t>& positions,
                   const std::vector<store::DeadLetter>& dead_letters) override {
    inner_->AfterCommit(positions, dead_letters);
  }
  bool MirrorsDeadLetters() const override { return inner_->MirrorsDeadLetters(); }
  std::vector<int64_t> TakeMirroredDeadLetters(int wait_ms) override {
    return inner_->TakeMirroredDeadLetters(wait_ms);
  }
  void SetRebalanceHooks(const RebalanceHooks& hooks) override { inner_->SetRebalanceHooks(hooks); }
  bool Connected(std::string* why) const override { return inner_->Connected(why); }
  UpstreamStatus Upstream() const override { return inner_->Upstream(); }
  std::string PartitionLabel(int32_t p) const override { return inner_->PartitionLabel(p); }

 private:
  std::unique_ptr<ReplayReader> Wrap(std::unique_ptr<ReplayReader> replay) const {
    return std::make_unique<ConfluentReplay>(std::move(replay), registry_, name_);
  }

  std::unique_ptr<Source> inner_;
  std::shared_ptr<contracts::SchemaRegistry> registry_;
  std::string name_;
};

}  // namespace

std::unique_ptr<Source> NewConfluentSource(std::unique_ptr<Source> framed,
                                           std::shared_ptr<contracts::SchemaRegistry> registry,
                                           std::string source_name) {
  return std::make_unique<ConfluentSource>(std::move(framed), std::move(registry),
                                           std::move(source_name));
}

}  // namespace sv::source
