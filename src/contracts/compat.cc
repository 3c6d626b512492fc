// The BACKWARD rule, keyword by keyword: a new schema is compatible when it accepts at least
// what the old one accepted. Each keyword's check asks "can a document valid under the old
// schema fail this keyword of the new one?"; keywords not analysed here are compatible only
// when unchanged.

// valijson's adapter first: it makes RapidJSON's assertions throw (VALIJSON_USE_EXCEPTIONS), for
// every RapidJSON use in this library alike.
// clang-format off
#include <valijson/adapters/rapidjson_adapter.hpp>
// clang-format on
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "contracts/contracts.h"

namespace sv::contracts {
namespace {

using rapidjson::Value;

// Keywords that constrain nothing.
const std::set<std::string>& Annotations() {
  static const std::set<std::string> kNames = {
      "title",      "description", "$comment", "examples",         "default",
      "$id",        "id",          "$schema",  "readOnly",         "writeOnly",
      "deprecated", "definitions", "$defs",    "contentMediaType", "contentEncoding"};
  return kNames;
}

// Keywords analysed below (the rest must be unchanged).
const std::set<std::string>& Analysed() {
  static const std::set<std::string> kNames = {"type",
                                               "required",
                                               "properties",
                                               "additionalProperties",
                                               "minimum",
                                               "maximum",
                                               "exclusiveMinimum",
                                               "exclusiveMaximum",
                                               "multipleOf",
                                               "minLength",
                                               "maxLength",
                                               "minItems",
                                               "maxItems",
                                               "minProperties",
                                               "maxProperties",
                                               "pattern",
                                               "format",
                                               "const",
                                               "enum",
                                               "uniqueItems",
                                               "items",
                                               "anyOf",
                                               "oneOf",
                                               "allOf",
                                               "not",
                                               "$ref"};
  return kNames;
}

std::string Text(const Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// A JSON pointer's reference token (RFC 6901): `~` and `/` escaped.
std::string Escaped(const std::string& name) {
  return absl::StrReplaceAll(name, {{"~", "~0"}, {"/", "~1"}});
}

const Value* Member(const Value& schema, const char* name) {
  if (!schema.IsObject()) return nullptr;
  auto it = schema.FindMember(name);
  return it == schema.MemberEnd() ? nullptr : &it->value;
}

bool IsTrue(const Value* v) { return v == nullptr || (v->IsBool() && v->GetBool()); }
bool IsFalse(const Value* v) { return v != nullptr && v->IsBool() && !v->GetBool(); }

class Comparison {
 public:
  Comparison(const Value& old_root, const Value& new_root)
      : old_root_(old_root), new_root_(new_root) {}

  // Adds what makes `n` reject a document `o` accepts, at `path` (a pointer into documents).
  void Check(const Value* o, const Value* n, const std::string& path) {
    o = Resolve(old_root_, o, path);
    n = Resolve(new_root_, n, path);
    if (IsTrue(n) || IsFalse(o)) return;
    if (!seen_.insert({o, n}).second) return;  // a recursive schema: this pair is in progress
    if (IsFalse(n)) {
      Add(path, "the new schema accepts nothing here (false)");
      return;
    }
    if (!n->IsObject()) {
      Add(path, "the new schema is not a schema object here");
      return;
    }
    const Value empty(rapidjson::kObjectType);
    if (o == nullptr || !o->IsObject()) o = &empty;  // true: anything was accepted
    Types(*o, *n, path);
    Required(*o, *n, path);
    Properties(*o, *n, path);
    Bounds(*o, *n, path);
    Exact(*o, *n, path);
    Items(*o, *n, path);
    Combinators(*o, *n, path);
    Others(*o, *n, path);
  }

  bool Compatible(const Value* o, const Value* n) {
    Comparison probe(old_root_, new_root_);
    probe.Check(o, n, "");
    return probe.found.empty();
  }

  std::vector<Incompatibility> found;

 private:
  void Add(const std::string& path, std::string change) {
    found.push_back({path.empty() ? "/" : path, std::move(change)});
  }

  // Follows local $refs ("#/definitions/x"); a remote one cannot be analysed.
  const Value* Resolve(const Value& root, const Value* v, const std::string& path) {
    for (int hops = 0; v != nullptr && hops < 32; ++hops) {
      const Value* ref = Member(*v, "$ref");
      if (ref == nullptr || !ref->IsString()) return v;
      const std::string target = ref->GetString();
      if (target.empty() || target[0] != '#') {
        Add(path, absl::StrCat("$ref ", target, " is not in the document (not analysed)"));
        return nullptr;
      }
      v = rapidjson::Pointer(target.substr(1).c_str()).Get(root);
      if (v == nullptr) {
        Add(path, absl::StrCat("$ref ", target, " points nowhere"));
        return nullptr;
      }
    }
    return v;
  }

  static std::set<std::string> TypeSet(const Value& schema) {
    std::set<std::string> types;
    const Value* t = Member(schema, "type");
    if (t == nullptr) return {"null", "boolean", "object", "array", "number", "string"};
    if (t->IsString()) types.insert(t->GetString());
    if (t->IsArray()) {
      for (const Value& e : t->GetArray()) {
        if (e.IsString()) types.insert(e.GetString());
      }
    }
    return types;
  }

  void Types(const Value& o, const Value& n, const std::string& path) {
    const Value* declared = Member(n, "type");
    if (declared == nullptr) return;
    if (Member(o, "type") == nullptr) {
      Add(path, absl::StrCat("type ", Text(*declared), " added (any type was accepted)"));
      return;
    }
    const std::set<std::string> old_types = TypeSet(o), new_types = TypeSet(n);
    for (const std::string& t : old_types) {
      if (new_types.count(t) != 0) continue;
      if (t == "integer" && new_types.count("number") != 0) continue;
      if (t == "number" && new_types.count("integer") != 0) {
        Add(path, "type narrowed from number to integer");
        continue;
      }
      Add(path, absl::StrCat("type ", t, " is no longer accepted"));
    }
  }

  void Required(const Value& o, const Value& n, const std::string& path) {
    const Value* req = Member(n, "required");
    if (req == nullptr || !req->IsArray()) return;
    const Value* old_req = Member(o, "required");
    for (const Value& name : req->GetArray()) {
      bool before = false;
      if (old_req != nullptr && old_req->IsArray()) {
        for (const Value& e : old_req->GetArray()) before = before || e == name;
      }
      if (!before && name.IsString()) {
        Add(path, absl::StrCat("required property '", name.GetString(), "' added"));
      }
    }
  }

  void Properties(const Value& o, const Value& n, const std::string& path) {
    const Value* o_props = Member(o, "properties");
    const Value* n_props = Member(n, "properties");
    const Value* o_more = Member(o, "additionalProperties");
    const Value* n_more = Member(n, "additionalProperties");
    if (n_props != nullptr && n_props->IsObject()) {
      for (const auto& m : n_props->GetObject()) {
        const std::string name = m.name.GetString();
        const std::string at = absl::StrCat(path, "/", Escaped(name));
        const Value* before = o_props != nullptr ? Member(*o_props, name.c_str()) : nullptr;
        if (before != nullptr) {
          Check(before, &m.value, at);
        } else if (IsTrue(o_more) && !Compatible(nullptr, &m.value)) {
          Add(at, absl::StrCat("property '", name,
                               "' added with constraints to an open content model (old "
                               "documents may carry it with any value)"));
        } else {
          Check(o_more, &m.value, at);
        }
      }
    }
    if (o_props != nullptr && o_props->IsObject()) {
      for (const auto& m : o_props->GetObject()) {
        const std::string name = m.name.GetString();
        if (n_props != nullptr && Member(*n_props, name.c_str()) != nullptr) continue;
        const std::string at = absl::StrCat(path, "/", Escaped(name));
        if (IsFalse(n_more)) {
          Add(at, absl::StrCat("property '", name,
                               "' removed from a closed content model (additionalProperties: "
                               "false)"));
        } else {
          Check(&m.value, n_more, at);
        }
      }
    }
    if (n_more != nullptr && !IsTrue(n_more)) {
      if (IsFalse(n_more) && !IsFalse(o_more)) {
        Add(path, "additionalProperties: false added (the content model was closed)");
      } else if (!IsFalse(n_more)) {
        Check(o_more, n_more, absl::StrCat(path, "/*"));
      }
    }
    const Value* n_patterns = Member(n, "patternProperties");
    const Value* o_patterns = Member(o, "patternProperties");
    if (n_patterns != nullptr && (o_patterns == nullptr || *o_patterns != *n_patterns)) {
      Add(path, "patternProperties added or changed (not analysed)");
    }
  }

  // A lower bound may not rise, an upper bound may not fall, a new bound is a new constraint.
  void Bounds(const Value& o, const Value& n, const std::string& path) {
    struct Bound {
      const char* name;
      bool lower;
    };
    for (const Bound b :
         {Bound{"minimum", true}, Bound{"exclusiveMinimum", true}, Bound{"minLength", true},
          Bound{"minItems", true}, Bound{"minProperties", true}, Bound{"maximum", false},
          Bound{"exclusiveMaximum", false}, Bound{"maxLength", false}, Bound{"maxItems", false},
          Bound{"maxProperties", false}}) {
      const Value* nv = Member(n, b.name);
      if (nv == nullptr) continue;
      const Value* ov = Member(o, b.name);
      if (!nv->IsNumber()) {  // draft 4's boolean exclusiveMinimum/Maximum
        if (ov == nullptr || *ov != *nv) Add(path, absl::StrCat(b.name, " changed"));
        continue;
      }
      if (ov == nullptr || !ov->IsNumber()) {
        Add(path, absl::StrCat(b.name, " ", Text(*nv), " added"));
        continue;
      }
      const double was = ov->GetDouble(), now = nv->GetDouble();
      if (b.lower ? now > was : now < was) {
        Add(path, absl::StrCat(b.name, b.lower ? " raised" : " lowered", " from ", Text(*ov),
                               " to ", Text(*nv)));
      }
    }
    if (const Value* nv = Member(n, "multipleOf"); nv != nullptr && nv->IsNumber()) {
      const Value* ov = Member(o, "multipleOf");
      if (ov == nullptr || !ov->IsNumber()) {
        Add(path, absl::StrCat("multipleOf ", Text(*nv), " added"));
      } else {
        const double ratio = ov->GetDouble() / nv->GetDouble();
        if (std::fabs(ratio - std::round(ratio)) > 1e-9) {
          Add(path, absl::StrCat("multipleOf changed from ", Text(*ov), " to ", Text(*nv)));
        }
      }
    }
  }

  // Keywords compatible only when unchanged or dropped; enum may also grow.
  void Exact(const Value& o, const Value& n, const std::string& path) {
    for (const char* name : {"pattern", "format", "const"}) {
      const Value* nv = Member(n, name);
      if (nv == nullptr) continue;
      const Value* ov = Member(o, name);
      if (ov == nullptr) {
        Add(path, absl::StrCat(name, " ", Text(*nv), " added"));
      } else if (*ov != *nv) {
        Add(path, absl::StrCat(name, " changed from ", Text(*ov), " to ", Text(*nv)));
      }
    }
    if (const Value* nv = Member(n, "uniqueItems"); nv != nullptr && IsTrue(nv)) {
      const Value* ov = Member(o, "uniqueItems");
      if (ov == nullptr || !ov->IsBool() || !ov->GetBool()) Add(path, "uniqueItems added");
    }
    const Value* ne = Member(n, "enum");
    if (ne == nullptr || !ne->IsArray()) return;
    const Value* oe = Member(o, "enum");
    if (oe == nullptr || !oe->IsArray()) {
      Add(path, "enum added");
      return;
    }
    for (const Value& v : oe->GetArray()) {
      bool kept = false;
      for (const Value& w : ne->GetArray()) kept = kept || v == w;
      if (!kept) Add(path, absl::StrCat("enum value ", Text(v), " removed"));
    }
  }

  void Items(const Value& o, const Value& n, const std::string& path) {
    const Value* ni = Member(n, "items");
    if (ni == nullptr) return;
    const Value* oi = Member(o, "items");
    if (ni->IsArray() || (oi != nullptr && oi->IsArray())) {
      if (oi == nullptr || *oi != *ni) Add(path, "tuple items changed (not analysed)");
      return;
    }
    Check(oi, ni, absl::StrCat(path, "/*"));
  }

  void Combinators(const Value& o, const Value& n, const std::string& path) {
    // anyOf/oneOf: each old alternative must be accepted by some new one.
    for (const char* name : {"anyOf", "oneOf"}) {
      const Value* nv = Member(n, name);
      if (nv == nullptr || !nv->IsArray()) continue;
      const Value* ov = Member(o, name);
      std::vector<const Value*> old_options;
      if (ov != nullptr && ov->IsArray()) {
        for (const Value& e : ov->GetArray()) old_options.push_back(&e);
      } else {
        old_options.push_back(&o);
      }
      for (size_t i = 0; i < old_options.size(); ++i) {
        bool accepted = false;
        for (const Value& option : nv->GetArray()) {
          accepted = accepted || Compatible(old_options[i], &option);
        }
        if (!accepted) {
          Add(path, ov != nullptr ? absl::StrCat(name, " alternative ", i,
                                                 " is accepted by no new alternative")
                                  : absl::StrCat(name, " added: the old schema's documents fit no ",
                                                 "alternative"));
        }
      }
    }
    // allOf: each new branch must hold for every old document.
    if (const Value* nv = Member(n, "allOf"); nv != nullptr && nv->IsArray()) {
      const Value* ov = Member(o, "allOf");
      for (const Value& branch : nv->GetArray()) {
        bool was_there = false;
        if (ov != nullptr && ov->IsArray()) {
          for (const Value& e : ov->GetArray()) was_there = was_there || e == branch;
        }
        if (!was_there) Check(&o, &branch, path);
      }
    }
    if (const Value* nv = Member(n, "not"); nv != nullptr) {
      const Value* ov = Member(o, "not");
      if (ov == nullptr || *ov != *nv) Add(path, "'not' added or changed");
    }
  }

  void Others(const Value& o, const Value& n, const std::string& path) {
    for (const auto& m : n.GetObject()) {
      const std::string name = m.name.GetString();
      if (Annotations().count(name) != 0 || Analysed().count(name) != 0 ||
          name == "patternProperties") {
        continue;
      }
      const Value* ov = Member(o, name.c_str());
      if (ov == nullptr || *ov != m.value) {
        Add(path, absl::StrCat("keyword '", name, "' added or changed (not analysed)"));
      }
    }
  }

  const Value& old_root_;
  const Value& new_root_;
  std::set<std::pair<const Value*, const Value*>> seen_;
};

}  // namespace

absl::StatusOr<std::vector<Incompatibility>> BackwardIncompatibilities(
    std::string_view old_schema, std::string_view new_schema) {
  // Both must be valid schemas first: a typo is an error, not an incompatibility.
  for (const auto& [text, name] :
       {std::pair{old_schema, "old schema"}, std::pair{new_schema, "new schema"}}) {
    absl::StatusOr<std::shared_ptr<const Contract>> parsed = Contract::FromText(text, name);
    if (!parsed.ok()) return parsed.status();
  }
  rapidjson::Document old_doc, new_doc;
  old_doc.Parse(old_schema.data(), old_schema.size());
  new_doc.Parse(new_schema.data(), new_schema.size());
  Comparison comparison(old_doc, new_doc);
  comparison.Check(&old_doc, &new_doc, "");
  return comparison.found;
}

}  // namespace sv::contracts
