#pragma once
// `streamview gen orders [--orders N] [--seed S] [--dup-rate R] [--reorder-rate R]
//  [--delay-rate R] [--malformed-rate R] [--envelope-rate R] [--reorder-window N]
//  [--delay-distance N] [--out FILE|-] [--quiet]`
//
// Writes the orders workload (see orders_generator.h) as NDJSON to FILE or stdout, and a
// one-line JSON summary to stderr unless --quiet.

namespace sv::gen {

// `argv` is main's argv (argv[0] the program, argv[1] "gen", argv[2] "orders", ...); a
// vector starting at "gen" (argv + 1) works too. Returns the process exit code.
int RunGenCommand(int argc, char** argv);

}  // namespace sv::gen
