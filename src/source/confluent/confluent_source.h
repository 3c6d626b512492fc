#pragma once
// Confluent-framed records (a Kafka source with schema_registry:): wraps a source so that each
// record reaches the engine as its JSON payload, with its writer schema's registry id in the
// contracts::kSchemaIdHeader header (or why it is not framed in kFrameErrorHeader), and so that
// every id it names has been fetched before the record is handed over. While the registry cannot
// be reached, Poll fails with Unavailable: the engine restarts the source from its stored
// positions after a back-off, so no record is applied before its schema is known and none is
// dead-lettered for the registry's outage.

#include <memory>
#include <string>

#include "contracts/registry.h"
#include "source/source.h"

namespace sv::source {

std::unique_ptr<Source> NewConfluentSource(std::unique_ptr<Source> framed,
                                           std::shared_ptr<contracts::SchemaRegistry> registry,
                                           std::string source_name);

}  // namespace sv::source
