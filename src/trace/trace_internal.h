#pragma once
// Shared between trace.cc and exporter.cc.

namespace sv::trace::internal {

// The configured ratio of traces started here that are recorded (0 when off).
double SampleRatio();

}  // namespace sv::trace::internal
