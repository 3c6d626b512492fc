#pragma once
// Work handed to another thread (a job thread, a rebuild worker, std::async, an operator command)
// must not let an exception escape: on a std::thread that is std::terminate, and a command's
// promise would stay unset. Each such boundary runs its work through CatchExceptions, so a
// throw becomes an error status that fails the batch or rebuild like any other error.

#include <exception>
#include <new>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sv {

template <typename Fn>
absl::Status CatchExceptions(absl::string_view what, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(what, ": out of memory"));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, " failed with an exception: ", e.what()));
  } catch (...) {
    return absl::InternalError(absl::StrCat(what, " failed with an unknown exception"));
  }
}

}  // namespace sv
