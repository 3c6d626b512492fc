// valijson's adapter first: it makes RapidJSON's assertions throw (VALIJSON_USE_EXCEPTIONS), for
// every RapidJSON use in this library alike.
// clang-format off
#include <valijson/adapters/rapidjson_adapter.hpp>
// clang-format on
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "contracts/contracts.h"

namespace sv::contracts {

struct Contract::Compiled {
  valijson::Schema schema;
};

struct Checker::Cache {
  valijson::Validator validator{valijson::Validator::kStrongTypes};
};

namespace {

// valijson names a node as "<root>", "[name]", "[0]"; a JSON pointer reads better in a reason.
std::string PointerOf(const std::vector<std::string>& context) {
  std::string out;
  for (const std::string& part : context) {
    if (part == "<root>") continue;
    std::string name = part;
    if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
      name = name.substr(1, name.size() - 2);
    }
    out += '/';
    out += absl::StrReplaceAll(name, {{"~", "~0"}, {"/", "~1"}});  // RFC 6901
  }
  return out.empty() ? "/" : out;
}

absl::StatusOr<rapidjson::Document> ParseJson(std::string_view text, const std::string& what) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": not JSON at offset ", doc.GetErrorOffset(), ": ",
                     rapidjson::GetParseError_En(doc.GetParseError())));
  }
  return doc;
}

}  // namespace

Contract::Contract(std::string name, std::string text, std::unique_ptr<Compiled> compiled)
    : name_(std::move(name)), text_(std::move(text)), compiled_(std::move(compiled)) {}
Contract::~Contract() = default;

absl::StatusOr<std::shared_ptr<const Contract>> Contract::FromText(std::string_view json,
                                                                   std::string name) {
  absl::StatusOr<rapidjson::Document> doc = ParseJson(json, name);
  if (!doc.ok()) return doc.status();
  if (!doc->IsObject() && !doc->IsBool()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": a JSON Schema is an object (or true/false)"));
  }
  auto compiled = std::make_unique<Compiled>();
  try {
    // Remote $refs are not fetched: a contract is one self-contained file.
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::RapidJsonAdapter adapter(*doc);
    parser.populateSchema(adapter, compiled->schema);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": not a valid JSON Schema: ", e.what()));
  }
  return std::shared_ptr<const Contract>(
      new Contract(std::move(name), std::string(json), std::move(compiled)));
}

absl::StatusOr<std::shared_ptr<const Contract>> Contract::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot be read"));
  std::ostringstream text;
  text << in.rdbuf();
  return FromText(text.str(), path);
}

Checker::Checker() : cache_(std::make_unique<Cache>()) {}
Checker::~Checker() = default;

std::optional<std::string> Checker::Violation(const Contract& contract, std::string_view json) {
  absl::StatusOr<rapidjson::Document> doc = ParseJson(json, "event");
  if (!doc.ok()) return std::string(doc.status().message());
  valijson::adapters::RapidJsonAdapter target(*doc);
  valijson::ValidationResults results;
  try {
    // Without results valijson stops at the first failure; only a failing document pays for a
    // second pass that collects where it failed.
    if (cache_->validator.validate(contract.compiled_->schema, target, nullptr)) {
      return std::nullopt;
    }
    cache_->validator.validate(contract.compiled_->schema, target, &results);
  } catch (const std::exception& e) {
    return absl::StrCat("contract ", contract.name(), " could not be checked: ", e.what());
  }
  // valijson reports a failure at every level it passes through; the deepest names the rule.
  const valijson::ValidationResults::Error* deepest = nullptr;
  for (const auto& error : results) {
    if (deepest == nullptr || error.context.size() > deepest->context.size()) deepest = &error;
  }
  if (deepest == nullptr) return absl::StrCat("violates contract ", contract.name());
  return absl::StrCat("at ", PointerOf(deepest->context), ": ", deepest->description);
}

void ContractSet::Add(const std::string& type, int64_t version,
                      std::shared_ptr<const Contract> contract) {
  by_type_[type][version] = std::move(contract);
}

const Contract* ContractSet::Find(const std::string& type, std::optional<int64_t> version,
                                  std::string* error) const {
  auto it = by_type_.find(type);
  if (it == by_type_.end()) return nullptr;
  const auto& versions = it->second;
  if (auto any = versions.find(0); any != versions.end()) return any->second.get();
  if (!version.has_value()) {
    *error = absl::StrCat("event type ", type, " has contracts by version but the event names no ",
                          "version");
    return nullptr;
  }
  auto v = versions.find(*version);
  if (v == versions.end()) {
    std::string known;
    for (const auto& [n, c] : versions) absl::StrAppend(&known, known.empty() ? "" : ", ", n);
    *error = absl::StrCat("no contract for ", type, " version ", *version, " (known: ", known, ")");
    return nullptr;
  }
  return v->second.get();
}

}  // namespace sv::contracts
