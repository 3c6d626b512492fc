// Exceptions at the engine's thread boundaries become error statuses: a job thread survives a
// throwing job, and an operator command that throws still answers its caller.

#include "common/thread_boundary.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <stdexcept>
#include <vector>

#include "engine/job_thread.h"
#include "engine/monitor.h"

namespace sv::engine {
namespace {

using ::testing::HasSubstr;

TEST(ThreadBoundaryTest, AThrowingJobFailsItsWaitAndTheThreadRunsTheNextJob) {
  JobThread thread;
  thread.Submit([]() -> absl::Status { throw std::runtime_error("boom in a lane"); });
  absl::Status status = thread.Wait();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(status.message()), HasSubstr("boom in a lane"));
  thread.Submit([] { return absl::OkStatus(); });
  EXPECT_TRUE(thread.Wait().ok());
}

TEST(ThreadBoundaryTest, OutOfMemoryAndNonStandardExceptionsAreStatusesToo) {
  JobThread thread;
  thread.Submit([]() -> absl::Status { throw std::bad_alloc(); });
  EXPECT_EQ(thread.Wait().code(), absl::StatusCode::kResourceExhausted);
  thread.Submit([]() -> absl::Status { throw 42; });
  EXPECT_THAT(std::string(thread.Wait().message()), HasSubstr("unknown exception"));
}

TEST(ThreadBoundaryTest, AThrowingCommandStillAnswersItsCaller) {
  Monitor monitor;
  std::future<absl::Status> thrown =
      monitor.Submit([](Engine*) -> absl::Status { throw std::out_of_range("bad command"); });
  std::future<absl::Status> next = monitor.Submit([](Engine*) { return absl::OkStatus(); });
  monitor.RunCommands(nullptr);
  ASSERT_EQ(thrown.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_THAT(std::string(thrown.get().message()), HasSubstr("bad command"));
  EXPECT_TRUE(next.get().ok()) << "the commands after it still run";
}

TEST(ThreadBoundaryTest, AnExceptionFromAnAsyncResultIsCaughtWhereItIsCollected) {
  std::future<std::vector<int>> sorted = std::async(
      std::launch::async, []() -> std::vector<int> { throw std::length_error("vector too long"); });
  std::vector<int> out;
  absl::Status status = CatchExceptions("sorting", [&] {
    out = sorted.get();
    return absl::OkStatus();
  });
  EXPECT_THAT(std::string(status.message()), HasSubstr("sorting failed with an exception: vector"));
}

}  // namespace
}  // namespace sv::engine
