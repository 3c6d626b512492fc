#include "server/collections.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace sv::server {
namespace {

std::optional<streamview::ColumnType> LibraryType(Type type) {
  switch (type) {
    case Type::kBool:
      return streamview::ColumnType::kBool;
    case Type::kInt:
      return streamview::ColumnType::kInt;
    case Type::kReal:
      return streamview::ColumnType::kReal;
    case Type::kText:
      return streamview::ColumnType::kText;
    case Type::kTime:
      return streamview::ColumnType::kTime;
    case Type::kJson:
      return streamview::ColumnType::kJson;
    default:
      return std::nullopt;  // the config refuses the rest
  }
}

absl::Status FromLibrary(const streamview::Status& status) {
  if (status.ok()) return absl::OkStatus();
  switch (status.code()) {
    case streamview::Code::kInvalidArgument:
      return absl::InvalidArgumentError(status.message());
    case streamview::Code::kFailedPrecondition:
      return absl::FailedPreconditionError(status.message());
    case streamview::Code::kUnavailable:
      return absl::UnavailableError(status.message());
    default:
      return absl::InternalError(status.message());
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Collections>> Collections::Create(const config::Config& config,
                                                                 const store::StoreOptions& store) {
  auto out = std::make_unique<Collections>();
  if (config.collections.empty()) return out;
  // A DSN is PostgreSQL's, a path SQLite's (the config refuses collections on the memory store).
  if (!store.dsn.empty()) {
    out->options_ = streamview::StoreOptions::Postgres(store.dsn, store.schema, store.view_schema);
  } else {
    out->options_ = streamview::StoreOptions::Sqlite(store.path);
  }
  for (const config::CollectionConfig& cc : config.collections) {
    Collection c;
    c.config = cc;
    c.spec.name = cc.name;
    c.api.view = cc.name;
    c.api.table.name = cc.name;
    for (const config::ColumnConfig& column : cc.columns) {
      std::optional<streamview::ColumnType> type = LibraryType(column.type);
      if (!type) {
        return absl::InvalidArgumentError(
            absl::StrCat("collection ", cc.name, ": column ", column.name, " has no such type"));
      }
      if (column.name == cc.tenant) c.tenant = static_cast<int>(c.api.table.columns.size());
      c.spec.columns.push_back({column.name, *type});
      c.api.table.columns.push_back({column.name, column.type});
    }
    c.version_column = static_cast<int>(c.api.table.columns.size());
    c.api.table.columns.push_back({"_version", Type::kInt});
    c.api.table.columns.push_back({"_last_event_id", Type::kText});
    c.spec.key = cc.key;
    for (const std::string& k : cc.key) {
      for (size_t i = 0; i < cc.columns.size(); ++i) {
        if (cc.columns[i].name == k) c.api.table.key.push_back(static_cast<int>(i));
      }
    }
    out->collections_.push_back(std::move(c));
  }
  // Defines the collections now: a definition that differs from the stored one is a startup
  // error, not a 500 at the first write.
  absl::StatusOr<Lease> first = out->Acquire();
  if (!first.ok()) return first.status();
  return out;
}

int Collections::Find(std::string_view name) const {
  for (size_t i = 0; i < collections_.size(); ++i) {
    if (collections_[i].config.name == name) return static_cast<int>(i);
  }
  return -1;
}

absl::StatusOr<Collections::Lease> Collections::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<streamview::Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(connection));
    }
  }
  streamview::Result<std::unique_ptr<streamview::Connection>> opened =
      streamview::Connection::Open(options_);
  if (!opened.ok()) return FromLibrary(opened.status());
  for (const Collection& c : collections_) {
    streamview::Status defined = (*opened)->projections().Define(c.spec);
    if (!defined.ok()) {
      absl::Status status = FromLibrary(defined);
      return absl::Status(status.code(),
                          absl::StrCat("collection ", c.spec.name, ": ", defined.message()));
    }
  }
  return Lease(this, std::move(*opened));
}

Collections::Lease::~Lease() {
  if (connection_ == nullptr || owner_ == nullptr) return;
  std::lock_guard<std::mutex> lock(owner_->mu_);
  owner_->idle_.push_back(std::move(connection_));
}

streamview::Value Collections::ToLibrary(const Value& value) {
  switch (value.type()) {
    case Type::kNull:
      return std::monostate{};
    case Type::kBool:
      return value.as_bool();
    case Type::kInt:
    case Type::kTime:
    case Type::kInterval:
      return value.as_int();
    case Type::kReal:
      return value.as_real();
    case Type::kText:
    case Type::kJson:
      return value.as_text();
  }
  return std::monostate{};
}

std::variant<streamview::Document, BodyError> Collections::ParseBody(const Collection& collection,
                                                                     std::string_view body) {
  rapidjson::Document doc;
  // Depth is bounded by the parser's iterative mode: no recursion on hostile nesting.
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (doc.HasParseError()) return BodyError{"body", "the body is not valid JSON"};
  if (!doc.IsObject()) return BodyError{"body", "the body must be a JSON object of the row"};
  streamview::Document out;
  for (auto m = doc.MemberBegin(); m != doc.MemberEnd(); ++m) {
    const std::string name(m->name.GetString(), m->name.GetStringLength());
    if (!name.empty() && name.front() == '_') continue;  // the store's own fields
    const rapidjson::Value& v = m->value;
    int index = -1;
    for (size_t i = 0; i < collection.config.columns.size(); ++i) {
      if (collection.config.columns[i].name == name) index = static_cast<int>(i);
    }
    if (index < 0) {
      return BodyError{name, absl::StrCat("collection '", collection.config.name,
                                          "' has no column '", name, "'")};
    }
    const Type type = collection.config.columns[index].type;
    auto wrong = [&](const char* want) {
      return BodyError{name, absl::StrCat("column '", name, "' holds ", want)};
    };
    if (v.IsNull()) {
      out[name] = std::monostate{};
      continue;
    }
    switch (type) {
      case Type::kBool:
        if (!v.IsBool()) return wrong("a boolean");
        out[name] = v.GetBool();
        break;
      case Type::kInt:
        if (!v.IsInt64()) return wrong("an integer (64-bit)");
        out[name] = static_cast<int64_t>(v.GetInt64());
        break;
      case Type::kReal:
        if (!v.IsNumber()) return wrong("a number");
        out[name] = v.GetDouble();
        break;
      case Type::kText:
        if (!v.IsString()) return wrong("text (a JSON string)");
        out[name] = std::string(v.GetString(), v.GetStringLength());
        break;
      case Type::kTime: {
        if (v.IsInt64()) {
          out[name] = static_cast<int64_t>(v.GetInt64());
          break;
        }
        std::optional<int64_t> micros;
        if (v.IsString()) micros = ParseTime(std::string_view(v.GetString(), v.GetStringLength()));
        if (!micros) return wrong("a timestamp (ISO-8601 text or integer microseconds)");
        out[name] = *micros;
        break;
      }
      case Type::kJson: {
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        v.Accept(w);
        out[name] = std::string(buf.GetString(), buf.GetSize());
        break;
      }
      default:
        return wrong("a type collections do not have");
    }
  }
  return out;
}

}  // namespace sv::server
