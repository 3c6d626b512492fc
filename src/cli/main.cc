// streamview: keeps materialized views current from event streams. Argument parsing only.

#include <CLI/CLI.hpp>
#include <cstring>

#include "cli/commands.h"
#include "gen/gen_command.h"

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "gen") == 0) return sv::gen::RunGenCommand(argc, argv);

  CLI::App app{"streamview: materialized views from event streams, exactly once"};
  app.require_subcommand(1);
  sv::cli::CommonOptions common;
  auto add_common = [&common](CLI::App* cmd) {
    cmd->add_option("--config,-c", common.config_path, "YAML config file")->required();
    cmd->add_option("--store", common.store_path,
                    "store file, or postgresql:// URI (overrides the config)");
  };

  std::string file = "-";
  auto* ingest = app.add_subcommand(
      "ingest", "append NDJSON events (FILE or - for stdin) to the embedded log");
  add_common(ingest);
  ingest->add_option("file", file, "NDJSON file, or - for standard input");
  std::string source;
  ingest->add_option("--source", source, "the log source to append to (default: the first)");
  int64_t rate = 0;
  size_t batch = 0;
  ingest->add_option("--rate", rate, "pace appends at this many events per second");
  ingest->add_option("--batch", batch, "lines per append transaction (default 10000)");
  int64_t skip_lines = 0;
  ingest->add_option("--skip-lines", skip_lines,
                     "pass over the first N input lines (resume after a failed ingest: it says N)");

  bool exit_when_caught_up = false;
  std::string latency_report;
  auto* run = app.add_subcommand("run", "tail the log and keep every view current");
  add_common(run);
  run->add_flag("--exit-when-caught-up", exit_when_caught_up,
                "stop once every source is caught up");
  std::string listen;
  run->add_option("--listen", listen, "serve HTTP on host:port (port 0 = any free port)");
  run->add_option("--latency-report", latency_report,
                  "on exit, write append-to-commit latency percentiles (JSON) to this file");

  std::vector<std::string> views;
  bool all = false;
  auto* rebuild =
      app.add_subcommand("rebuild", "replay into new view versions and swap atomically");
  add_common(rebuild);
  rebuild->add_option("--view", views, "view to rebuild (repeatable)");
  rebuild->add_flag("--all", all, "rebuild every view and the gate state");
  std::string tenant, where;
  rebuild->add_option("--tenant", tenant,
                      "only this organization's rows (views with a tenant column)");
  rebuild->add_option("--where", where,
                      "only the rows of \"<tenant column> = 'organization'\" (as --tenant)");
  bool allow_partial = false;
  rebuild->add_flag("--allow-partial", allow_partial,
                    "rebuild even when the source's retention dropped its first records");
  bool no_promote = false;
  rebuild->add_flag("--no-promote", no_promote,
                    "build the new versions beside the active ones; `views promote` switches");

  auto* views_cmd = app.add_subcommand("views", "view versions: list, promote, rollback, drop");
  views_cmd->require_subcommand(1);
  std::string view_name;
  int64_t version = 0;
  int sample_rows = 100;
  auto* views_list = views_cmd->add_subcommand("list", "each view's versions and their roles");
  add_common(views_list);
  views_list->add_option("--view", view_name, "only this view");
  bool views_json = false;
  views_list->add_flag("--json", views_json, "one JSON object per line");
  auto* views_promote = views_cmd->add_subcommand(
      "promote", "switch readers to a newer kept version (validated against the serving one)");
  auto* views_rollback =
      views_cmd->add_subcommand("rollback", "switch readers back to the standby version");
  auto* views_drop = views_cmd->add_subcommand("drop", "drop a version that is not active");
  for (CLI::App* cmd : {views_promote, views_rollback, views_drop}) {
    add_common(cmd);
    cmd->add_option("--view", view_name, "the view")->required();
  }
  views_promote->add_option("--version", version, "the version (default: the newest)");
  views_promote->add_option("--sample", sample_rows, "rows compared with the serving version");
  views_rollback->add_option("--version", version, "the version (default: the standby)");
  views_drop->add_option("--version", version, "the version to drop")->required();

  auto* dlq = app.add_subcommand("dlq", "dead letters and parked keys");
  dlq->require_subcommand(1);
  bool json = false;
  auto* dlq_list = dlq->add_subcommand("list", "list dead letters and parked keys");
  add_common(dlq_list);
  dlq_list->add_flag("--json", json, "one JSON object per line");
  int64_t id = 0;
  std::string payload;
  auto* dlq_replay = dlq->add_subcommand("replay", "apply a dead letter again (after a fix)");
  add_common(dlq_replay);
  dlq_replay->add_option("id", id, "dead letter id")->required();
  dlq_replay->add_option("--payload", payload, "file holding a corrected record to apply instead");
  auto* dlq_discard = dlq->add_subcommand("discard", "drop a dead letter and release its key");
  add_common(dlq_discard);
  dlq_discard->add_option("id", id, "dead letter id")->required();

  auto* stats = app.add_subcommand("stats", "counters of every outcome, per source");
  add_common(stats);
  auto* check = app.add_subcommand("check", "validate a config and exit");
  add_common(check);
  auto* verify = app.add_subcommand(
      "verify",
      "reconcile (exit 1 on drift): every view against its source replayed into a shadow, key by "
      "key (a change feed: a new snapshot of its tables, the stream run up to it), and each "
      "derived view against its SELECT run by the store");
  add_common(verify);
  sv::cli::VerifyOptions verify_options;
  verify->add_option("--tenant", verify_options.tenant,
                     "only this organization's rows (views with a tenant column)");
  verify->add_flag("--repair", verify_options.repair,
                   "write the missing, extra and differing keys as the source says");
  verify->add_option("--max-keys", verify_options.max_keys,
                     "keys listed per view and kind (default 100; the totals count all)");

  auto* drop_slot = app.add_subcommand(
      "drop-slot",
      "drop the replication slot (and publication) a removed postgres_changes source left");
  std::string dsn;
  std::string slot;
  std::string publication;
  drop_slot->add_option("--dsn", dsn, "the source database (libpq connection string or URI)")
      ->required();
  drop_slot->add_option("--slot", slot, "the slot (the source's slot:, default sv_<source>)")
      ->required();
  drop_slot->add_option("--publication", publication,
                        "also drop this publication (default sv_<source>)");

  auto* contracts_cmd = app.add_subcommand("contracts", "event contracts (JSON Schema)");
  contracts_cmd->require_subcommand(1);
  auto* contracts_check = contracts_cmd->add_subcommand(
      "check", "exit 1 unless NEW is BACKWARD compatible with OLD (reads what OLD accepted)");
  std::string old_schema;
  std::string new_schema;
  contracts_check->add_option("OLD", old_schema, "the schema in use")->required();
  contracts_check->add_option("NEW", new_schema, "the proposed schema")->required();

  CLI11_PARSE(app, argc, argv);
  if (*contracts_check) return sv::cli::ContractsCheck(old_schema, new_schema);
  if (*drop_slot) return sv::cli::DropSlot(dsn, slot, publication);
  if (*ingest) return sv::cli::Ingest(common, file, source, rate, batch, skip_lines);
  if (*run) return sv::cli::Run(common, exit_when_caught_up, latency_report, listen);
  if (*rebuild) {
    if (all == !views.empty()) {
      std::fprintf(stderr, "rebuild: give --view NAME (repeatable) or --all\n");
      return 2;
    }
    if (!tenant.empty() || !where.empty()) {
      if (all || (!tenant.empty() && !where.empty())) {
        std::fprintf(stderr, "rebuild: --tenant or --where rebuilds the --view NAMEs given\n");
        return 2;
      }
      return sv::cli::RebuildTenant(common, views, tenant, where);
    }
    if (no_promote && all) {
      std::fprintf(stderr, "rebuild: --no-promote builds the --view NAMEs given\n");
      return 2;
    }
    return sv::cli::Rebuild(common, views, allow_partial, !no_promote);
  }
  if (*views_list) return sv::cli::ViewsList(common, view_name, views_json);
  if (*views_promote) {
    return sv::cli::ViewsSwitch(common, true, view_name, version, sample_rows);
  }
  if (*views_rollback) return sv::cli::ViewsSwitch(common, false, view_name, version, 0);
  if (*views_drop) return sv::cli::ViewsDrop(common, view_name, version);
  if (*dlq_list) return sv::cli::DlqList(common, json);
  if (*dlq_replay) return sv::cli::DlqReplay(common, id, payload);
  if (*dlq_discard) return sv::cli::DlqDiscard(common, id);
  if (*stats) return sv::cli::Stats(common);
  if (*check) return sv::cli::Check(common);
  if (*verify) return sv::cli::Verify(common, verify_options);
  return 2;
}
