// GET /views/{view}/subscribe: the view's committed changes as Server-Sent Events
// (server/subscriptions.h), scoped like the list route: the caller's organization only.

#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/server_internal.h"
#include "server/view_query.h"

namespace sv::server {
namespace {

void ServeSubscribe(Server::Impl& impl, int view, const http::Request& req, http::Response& res) {
  Caller caller;
  if (!AuthorizeRead(impl, view, req, res, &caller)) return;
  // The list route's filters (server/view_query.h); its paging parameters mean nothing here.
  Params filters;
  for (const auto& [name, value] : req.params) {
    if (name == "after") continue;
    if (name == "sort" || name == "limit" || name == "cursor" || name == "min_position") {
      return ReplyError(res, 400,
                        absl::StrCat("a subscription takes the list route's filters and after=, "
                                     "not ",
                                     name, "="),
                        name);
    }
    filters.emplace_back(name, value);
  }
  std::optional<Value> tenant;
  if (!TenantValue(impl, view, caller, res, &tenant)) return;
  if (impl.subscriptions == nullptr || !impl.subscriptions->enabled()) {
    return ReplyError(res, 404, "subscriptions are off (server.subscriptions.max_subscribers: 0)");
  }
  // EventSource sends Last-Event-ID when it reconnects: it wins over the after= of its URL.
  std::string after_text = req.get_header_value("Last-Event-ID");
  std::string parameter = "Last-Event-ID";
  if (after_text.empty() && req.has_param("after")) {
    after_text = req.get_param_value("after");
    parameter = "after";
  }
  std::optional<int64_t> after;
  if (!after_text.empty()) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(after_text, &id)) {
      return ReplyError(res, 400, "an event id is an integer", parameter);
    }
    after = id;
  }
  std::optional<std::string> organization;
  if (tenant.has_value()) organization = tenant->ToString();
  // The filters name the serving version's columns (a version of the view's previous:
  // definition may serve); a switch between reading it and subscribing is read again.
  absl::StatusOr<std::shared_ptr<http::StreamBody>> stream;
  for (int attempt = 0; attempt < 5; ++attempt) {
    SubscriptionHub::Serving serving;
    serving.replacements = impl.subscriptions->Replacements(view);
    ViewApi scratch;
    const ViewApi* api = &impl.views[view];
    if (impl.previous_views[view]) {
      auto reader = impl.Reader();
      if (!reader.ok()) return ReplyStatus(res, reader.status());
      auto active = impl.ActiveApi(view, **reader, &scratch, &serving.previous);
      if (!active.ok()) return ReplyStatus(res, active.status());
      api = *active;
    }
    auto parsed = ParseViewQuery(*api, filters, Mode::kNative);
    if (auto* error = std::get_if<ParamError>(&parsed)) {
      return ReplyError(res, 400, error->message, error->parameter);
    }
    stream = impl.subscriptions->Subscribe(view, serving, organization, after,
                                           std::move(std::get<ParsedQuery>(parsed).query.filters));
    if (!absl::IsAborted(stream.status())) break;
  }
  if (!stream.ok()) return ReplyStatus(res, stream.status());
  res.status = 200;
  res.content_type = "text/event-stream";
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Accel-Buffering", "no");  // proxies: pass events on as they come
  res.stream = *std::move(stream);
}

}  // namespace

void Server::Impl::RegisterSubscribeRoutes() {
  // Before /views/{view}/{key...}: a row whose one-column key is literally "subscribe" is read
  // with the segment percent-encoded (/views/v/%73ubscribe), which the handler passes on.
  http->Get(R"(/views/([^/]+)/subscribe)", [this](const http::Request& req, http::Response& res) {
    const std::vector<std::string> segments = PathSegments(req, 1);
    const int view = catalog->FindView(segments.front());
    std::string raw = req.target.substr(0, req.target.find('?'));
    const bool subscribe = raw.size() >= 10 && raw.compare(raw.size() - 10, 10, "/subscribe") == 0;
    const int collection = collections == nullptr ? -1 : collections->Find(segments.front());
    if (view < 0 && collection >= 0) {
      if (!subscribe) {
        return ServeCollectionRead(*this, collection, {segments.begin() + 1, segments.end()}, req,
                                   res);
      }
      return ReplyError(res, 404, "collections have no subscriptions (yet)", "view");
    }
    if (view < 0 || catalog->views[view].internal) {
      return ReplyError(res, 404, "no such view", "view");
    }
    if (!subscribe) {
      return ServeRowRoute(*this, view, {segments.begin() + 1, segments.end()}, req, res);
    }
    ServeSubscribe(*this, view, req, res);
  });
}

}  // namespace sv::server
