#pragma once
// Errors and results of the StreamView library. A version conflict or an event already applied
// is not an error: it is a WriteResult (projection_store.h). An error is the store failing
// (unreachable, a full disk) or a call that cannot be right (an unknown column, a bad cursor).

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace streamview {

enum class Code {
  kOk,
  kInvalidArgument,     // the call is wrong: unknown collection or column, bad cursor, ...
  kFailedPrecondition,  // the store is not in a state for it (a collection defined otherwise)
  kUnavailable,         // the store could not be reached or was busy: retry
  kInternal,            // anything else the store reported
};

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status saying why there is none. value() of a failed Result throws
// std::logic_error: check ok() first.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit like std::optional
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status(Code::kInternal, "a Result made of an ok Status");
  }
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return Checked(), *value_; }
  const T& value() const& { return Checked(), *value_; }
  T&& value() && { return Checked(), std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void Checked() const {
    if (!ok()) throw std::logic_error("streamview::Result has no value: " + status_.message());
  }
  Status status_;
  std::optional<T> value_;
};

}  // namespace streamview
