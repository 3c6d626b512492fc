// The Parser's shape helpers: map entries, allowed and required keys, scalars, integers,
// booleans and expressions, each failing with the file:line:col of the offending node.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "config/parser.h"

namespace sv::config::internal {

const Entry* Find(const Entries& entries, absl::string_view name) {
  for (const Entry& e : entries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

bool IsIdentifier(absl::string_view s) {
  if (s.empty()) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string Quoted(absl::string_view s) { return absl::StrCat("'", s, "'"); }

std::string JoinNames(const std::vector<std::string>& names) { return absl::StrJoin(names, ", "); }

const char* KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

Location Parser::ContentLoc(const YAML::Node& node) const {
  Location loc = LocOf(node);
  if (loc.line <= 0 || loc.line > static_cast<int>(lines_.size())) return loc;
  const std::string& line = lines_[loc.line - 1];
  const size_t col = loc.column - 1;
  if (col >= line.size()) return loc;
  const char c = line[col];
  if (c == '"' || c == '\'') {
    loc.column += 1;
  } else if (c == '|' || c == '>') {
    // Block scalar: its content starts at the first non-blank character of the next non-blank
    // line.
    for (size_t i = loc.line; i < lines_.size(); ++i) {
      const size_t first = lines_[i].find_first_not_of(" \t\r");
      if (first == std::string::npos) continue;
      loc.line = static_cast<int>(i) + 1;
      loc.column = static_cast<int>(first) + 1;
      break;
    }
  }
  return loc;
}

absl::StatusOr<Entries> Parser::MapEntries(const YAML::Node& node, const YAML::Node& where_node,
                                           absl::string_view what) const {
  if (!node.IsMap()) {
    return Err(node.IsNull() ? where_node : node,
               absl::StrCat(what, " must be a map, not ", KindName(node)));
  }
  Entries entries;
  std::set<std::string> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    // Copies: the iterator hands out a temporary proxy.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (!key.IsScalar()) {
      return Err(key, absl::StrCat("keys in ", what, " must be plain names, not ", KindName(key)));
    }
    if (!seen.insert(key.Scalar()).second) {
      return Err(key, absl::StrCat("duplicate key ", Quoted(key.Scalar()), " in ", what));
    }
    entries.push_back(Entry{key.Scalar(), key, value});
  }
  return entries;
}

absl::Status Parser::CheckKeys(const Entries& entries,
                               std::initializer_list<absl::string_view> allowed,
                               absl::string_view what) const {
  for (const Entry& e : entries) {
    if (std::find(allowed.begin(), allowed.end(), e.name) == allowed.end()) {
      return Err(e.key, absl::StrCat("unknown key ", Quoted(e.name), " in ", what,
                                     " (expected one of: ", absl::StrJoin(allowed, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status Parser::CheckRequired(const Entries& entries, absl::string_view key,
                                   const YAML::Node& where_node, absl::string_view what) const {
  if (Find(entries, key) == nullptr) {
    return Err(where_node, absl::StrCat(what, " is missing required key ", Quoted(key)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Parser::ScalarText(const YAML::Node& node, const YAML::Node& where_node,
                                               absl::string_view what) const {
  if (!node.IsScalar()) {
    return Err(node.IsNull() ? where_node : node,
               absl::StrCat(what, " must be a name, not ", KindName(node)));
  }
  if (node.Scalar().empty()) return Err(node, absl::StrCat(what, " must not be empty"));
  return node.Scalar();
}

absl::StatusOr<std::string> Parser::Name(const Entry& entry, absl::string_view what) const {
  return ScalarText(entry.value, entry.key, what);
}

absl::StatusOr<std::vector<std::pair<std::string, YAML::Node>>> Parser::NameList(
    const Entry& entry, absl::string_view what) const {
  const YAML::Node& node = entry.value;
  if (!node.IsSequence()) {
    return Err(node.IsNull() ? entry.key : node,
               absl::StrCat(what, " must be a list, not ", KindName(node)));
  }
  std::vector<std::pair<std::string, YAML::Node>> out;
  for (auto it = node.begin(); it != node.end(); ++it) {
    SV_ASSIGN_OR_RETURN(std::string name, ScalarText(*it, node, absl::StrCat("an item of ", what)));
    out.emplace_back(std::move(name), *it);
  }
  return out;
}

absl::StatusOr<int64_t> Parser::Integer(const Entry& entry, absl::string_view what, int64_t min,
                                        int64_t max) const {
  const YAML::Node& node = entry.value;
  int64_t value = 0;
  if (!node.IsScalar() || node.Tag() != "?" || !absl::SimpleAtoi(node.Scalar(), &value)) {
    return Err(node.IsScalar() ? node : entry.key,
               absl::StrCat(what, " must be an integer, not ",
                            node.IsScalar() ? Quoted(node.Scalar()) : KindName(node)));
  }
  if (value < min || value > max) {
    return Err(node, absl::StrCat(what, " must be between ", min, " and ", max, ", not ", value));
  }
  return value;
}

absl::StatusOr<bool> Parser::Bool(const Entry& entry, absl::string_view what) const {
  const YAML::Node& node = entry.value;
  if (node.IsScalar() && node.Tag() == "?") {
    const std::string& s = node.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  return Err(node.IsScalar() ? node : entry.key,
             absl::StrCat(what, " must be true or false, not ",
                          node.IsScalar() ? Quoted(node.Scalar()) : KindName(node)));
}

absl::StatusOr<ExprText> Parser::Expr(const Entry& entry, absl::string_view what) const {
  const YAML::Node& node = entry.value;
  if (node.IsNull()) {
    // A plain null/Null/NULL/~ is the SQL NULL; an empty value is a mistake. yaml-cpp keeps no
    // text for nulls, and the mark of an empty value points at the next token, so look at the
    // text right after the key, on its line.
    const Location loc = LocOf(node);
    const Location key_loc = LocOf(entry.key);
    if (loc.line > 0 && loc.line == key_loc.line && loc.column > key_loc.column &&
        loc.line <= static_cast<int>(lines_.size())) {
      const std::string& line = lines_[loc.line - 1];
      const absl::string_view rest =
          absl::string_view(line).substr(std::min<size_t>(loc.column - 1, line.size()));
      for (absl::string_view word : {"null", "Null", "NULL", "~"}) {
        if (rest.substr(0, word.size()) != word) continue;
        const absl::string_view after = rest.substr(word.size());
        if (after.empty() || after[0] == ' ' || after[0] == '\t' || after[0] == '\r' ||
            after[0] == ',' || after[0] == '}' || after[0] == '#') {
          return ExprText{word == "~" ? "NULL" : std::string(word), loc};
        }
      }
    }
    return Err(entry.key, absl::StrCat(what, " is empty (expected an expression)"));
  }
  if (!node.IsScalar()) {
    return Err(node, absl::StrCat(what, " must be an expression (a scalar), not ", KindName(node)));
  }
  if (absl::StripAsciiWhitespace(node.Scalar()).empty()) {
    return Err(node, absl::StrCat(what, " is empty (expected an expression)"));
  }
  return ExprText{node.Scalar(), ContentLoc(node)};
}

}  // namespace sv::config::internal
