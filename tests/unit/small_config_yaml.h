#pragma once
// A small valid config (14 lines) that config tests extend or vary; errors in what they append
// start at line 15.

namespace sv::config {

inline constexpr char kSmallYaml[] = R"yaml(sources:
  orders:
    key: orderId
    event_types: [OrderCreated, OrderPurged]
views:
  orders_view:
    source: orders
    key: [order_id]
    columns:
      order_id: text
    on:
      OrderCreated:
        set:
          order_id: e.orderId
)yaml";

}  // namespace sv::config
