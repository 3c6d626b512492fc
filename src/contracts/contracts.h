#pragma once
// Event contracts: a JSON Schema per event type and version, checked on every event of a source
// that declares them (violations go to the dead-letter store with the failing path and rule),
// and the schema registry's BACKWARD rule for a schema change.
//
// Validation is valijson's (drafts 4, 6 and 7); only the compatibility rule is ours, because
// no maintained C++ library decides it.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace sv::contracts {

// One compiled JSON Schema. Immutable and shareable between threads; a Checker validates.
class Contract {
 public:
  // `name` is how messages refer to it (a file name).
  static absl::StatusOr<std::shared_ptr<const Contract>> FromText(std::string_view json,
                                                                  std::string name);
  static absl::StatusOr<std::shared_ptr<const Contract>> FromFile(const std::string& path);
  ~Contract();
  Contract(const Contract&) = delete;
  Contract& operator=(const Contract&) = delete;

  const std::string& name() const { return name_; }
  const std::string& text() const { return text_; }

 private:
  friend class Checker;
  struct Compiled;
  Contract(std::string name, std::string text, std::unique_ptr<Compiled> compiled);
  std::string name_;
  std::string text_;
  std::unique_ptr<Compiled> compiled_;
};

// Validates documents. Holds the compiled `pattern` regexes, so keep one per thread.
class Checker {
 public:
  Checker();
  ~Checker();
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;
  // nullopt when `json` satisfies the contract; else the deepest failure, as
  // "at /items/0/qty: <the rule it breaks>".
  std::optional<std::string> Violation(const Contract& contract, std::string_view json);

 private:
  struct Cache;
  std::unique_ptr<Cache> cache_;
};

// The contracts of one source: by event type, then version (0: the type's only schema, which
// applies to every version).
class ContractSet {
 public:
  void Add(const std::string& type, int64_t version, std::shared_ptr<const Contract> contract);
  bool empty() const { return by_type_.empty(); }
  bool HasType(const std::string& type) const { return by_type_.count(type) != 0; }
  // The contract for (type, version); null when the type has none (it is not checked).
  // *error is set when the type has contracts but none for `version` (or a version is needed).
  const Contract* Find(const std::string& type, std::optional<int64_t> version,
                       std::string* error) const;
  const std::map<std::string, std::map<int64_t, std::shared_ptr<const Contract>>>& by_type() const {
    return by_type_;
  }

 private:
  std::map<std::string, std::map<int64_t, std::shared_ptr<const Contract>>> by_type_;
};

// One reason a new schema cannot read what the old one accepted, at a JSON pointer into the
// documents ("" is the root).
struct Incompatibility {
  std::string path;
  std::string change;
};

// The schema registry's BACKWARD rule: every document the old schema accepts must be accepted
// by the new one (consumers on the new schema read old data). The rule is decided per keyword;
// a change to a keyword it does not analyse is reported, never assumed compatible. Empty: the
// change is BACKWARD compatible. An error when either text is not a JSON Schema document.
absl::StatusOr<std::vector<Incompatibility>> BackwardIncompatibilities(std::string_view old_schema,
                                                                       std::string_view new_schema);

}  // namespace sv::contracts
