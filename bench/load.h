// `strata-bench load`: RESP load generator with its own io_uring client (see load_options.h
// for the flags). argv[0] is "load". Returns the process exit code. Global namespace: this is
// the entry point bench/main.cc dispatches to.
#pragma once

int run_load(int argc, char** argv);
