#include "server/events_body.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace sv::server {
namespace {

// SAX handler: re-serializes each element of the top-level array as one line. Depth 0 is
// outside the array, 1 between its elements.
class ElementsToLines {
 public:
  explicit ElementsToLines(std::string* out) : out_(out), writer_(buffer_) {}

  bool Null() { return Scalar(writer_.Null()); }
  bool Bool(bool b) { return Scalar(writer_.Bool(b)); }
  bool Int(int i) { return Scalar(writer_.Int(i)); }
  bool Uint(unsigned u) { return Scalar(writer_.Uint(u)); }
  bool Int64(int64_t i) { return Scalar(writer_.Int64(i)); }
  bool Uint64(uint64_t u) { return Scalar(writer_.Uint64(u)); }
  bool Double(double d) { return Scalar(writer_.Double(d)); }
  // Writer::RawNumber would quote the number; RawValue copies it as written.
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    return Scalar(writer_.RawValue(s, n, rapidjson::kNumberType));
  }
  bool String(const char* s, rapidjson::SizeType n, bool) { return Scalar(writer_.String(s, n)); }
  bool Key(const char* s, rapidjson::SizeType n, bool) { return writer_.Key(s, n); }
  bool StartObject() { return depth_ >= 1 && Open(writer_.StartObject()); }
  bool EndObject(rapidjson::SizeType n) { return Close(writer_.EndObject(n)); }
  bool StartArray() {
    if (depth_ == 0) return ++depth_;  // the body's own array
    return Open(writer_.StartArray());
  }
  bool EndArray(rapidjson::SizeType n) {
    if (depth_ == 1) return --depth_ == 0;
    return Close(writer_.EndArray(n));
  }

 private:
  bool Scalar(bool ok) {
    if (depth_ == 1) EndElement();
    return ok && depth_ >= 1;
  }
  bool Open(bool ok) {
    ++depth_;
    return ok;
  }
  bool Close(bool ok) {
    if (--depth_ == 1) EndElement();
    return ok;
  }
  void EndElement() {
    out_->append(buffer_.GetString(), buffer_.GetSize());
    out_->push_back('\n');
    buffer_.Clear();
    writer_.Reset(buffer_);
  }

  std::string* out_;
  int depth_ = 0;
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

}  // namespace

absl::StatusOr<std::string> EventsBodyToLines(std::string_view body) {
  const size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || body[first] != '[') return std::string(body);
  std::string lines;
  ElementsToLines handler(&lines);
  rapidjson::MemoryStream stream(body.data(), body.size());
  rapidjson::Reader reader;
  constexpr unsigned kFlags =
      rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag;
  const rapidjson::ParseResult parsed = reader.Parse<kFlags>(stream, handler);
  if (parsed.IsError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the body starts with '[' but is not a JSON array (offset ", parsed.Offset(),
                     ": ", rapidjson::GetParseError_En(parsed.Code()), ")"));
  }
  return lines;
}

}  // namespace sv::server
