// Dead letters after the fact: a replay or discard of one (through the processor that parked
// its key), and the outbox of copies mirrored to a dead-letter topic until the topic confirms
// them.

#include <algorithm>
#include <functional>
#include <optional>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "engine/engine.h"

namespace sv::engine {
namespace {

// How long a stopping engine waits for the dead-letter copies still in flight.
constexpr int kMirrorFlushMs = 10'000;

}  // namespace

absl::Status Engine::ActOnDeadLetter(
    int64_t id, const char* what, bool commit_failed,
    const std::function<absl::Status(Processor&, const store::DeadLetter&)>& act) {
  SV_ASSIGN_OR_RETURN(std::optional<store::DeadLetter> dl, store_->GetDeadLetter(id));
  if (!dl) return absl::NotFoundError(absl::StrCat("no dead letter ", id));
  if (dl->state != store::DeadLetterState::kOpen) {
    return absl::FailedPreconditionError(absl::StrCat("dead letter ", id, " is not open"));
  }
  for (SourceState& st : sources_) {
    if (catalog_->sources[st.index].config.name != dl->source) continue;
    SV_ASSIGN_OR_RETURN(auto fenced, FencePartitions(dl->source, {dl->partition}, *st.source,
                                                     absl::StrCat("dlq ", what)));
    absl::Cleanup release = [&] { ReleaseFence(dl->source, fenced); };
    // The key's lane: its processor parked the key and holds what waits behind the letter.
    absl::Status result = act(*st.lanes[LaneOf(st, dl->key)].processor, *dl);
    // Nothing half done stays in memory: commit what it did (a replay that failed again is a
    // new dead letter), or start over from the store.
    if (!result.ok() && !commit_failed) return Recover(result);
    absl::Status committed = Commit();
    if (!committed.ok()) return Recover(committed);
    // Acknowledged once durable: the engine's commits may lose their last ones to a power
    // cut (the source replays those), but nothing would redo an operator's replay or discard.
    SV_RETURN_IF_ERROR(store_->SyncCommitted());
    return result;
  }
  return absl::NotFoundError(absl::StrCat("source '", dl->source, "' is not in this config"));
}

absl::Status Engine::ReplayDeadLetter(int64_t id, const std::string* payload) {
  return ActOnDeadLetter(
      id, "replay", /*commit_failed=*/true,
      [payload](Processor& p, const store::DeadLetter& dl) { return p.Replay(dl, payload); });
}

absl::Status Engine::DiscardDeadLetter(int64_t id) {
  return ActOnDeadLetter(id, "discard", /*commit_failed=*/false,
                         [](Processor& p, const store::DeadLetter& dl) { return p.Discard(dl); });
}

void Engine::SettleDeadLetterMirror(SourceState& st, int wait_ms) {
  if (st.source == nullptr || !st.source->MirrorsDeadLetters()) return;
  const std::vector<int64_t> sent = st.source->TakeMirroredDeadLetters(wait_ms);
  const absl::Status s = store_->DeleteDeadLetterOutbox(sent);
  if (!s.ok()) {
    // They stay in the outbox and are sent again by the partitions' next owner: a duplicate
    // on the topic, never a loss.
    LogJson("warn", "dead-letter outbox", {{"error", s.ToString()}});
  }
}

absl::Status Engine::ResendDeadLetterOutbox(SourceState& st,
                                            const std::vector<int32_t>& partitions) {
  if (!st.source->MirrorsDeadLetters()) return absl::OkStatus();
  const std::string& name = catalog_->sources[st.index].config.name;
  SV_ASSIGN_OR_RETURN(std::vector<store::DeadLetter> unsent, store_->ListDeadLetterOutbox(name));
  std::erase_if(unsent, [&](const store::DeadLetter& dl) {
    return std::find(partitions.begin(), partitions.end(), dl.partition) == partitions.end();
  });
  if (unsent.empty()) return absl::OkStatus();
  LogJson("info", "dead-letter outbox: sending unconfirmed copies again",
          {{"source", name}, {"dead_letters", std::to_string(unsent.size())}});
  st.source->AfterCommit({}, unsent);
  return absl::OkStatus();
}

void Engine::StopDeadLetterMirrors() {
  for (SourceState& st : sources_) SettleDeadLetterMirror(st, kMirrorFlushMs);
}

}  // namespace sv::engine
