#include "bench/sim_cli.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench/sim.h"
#include "bench/sim_report.h"
#include "bench/trace.h"

namespace strata::bench {

namespace {

constexpr unsigned kThreadsMax = 256;

struct SimArgs {
  std::string trace;
  std::string policies = "lru,s3fifo";
  std::string sizes = "0.1%,1%,10%";
  std::string format = "table";
  std::string out;
  std::string svg;
  unsigned threads = 1;
  int progress = -1;  // -1: when stderr is a tty
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    std::string item =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// Accepts "--name value" and "--name=value". Returns false (with a message) on a usage error.
bool parse_args(int argc, char** argv, SimArgs* a, bool* help) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (const size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto need = [&](std::string* dst) {
      if (!has_value) {
        if (i + 1 >= argc) return false;
        value = argv[++i];
      }
      *dst = value;
      return true;
    };
    bool ok = true;
    if (arg == "-h" || arg == "--help") {
      *help = true;
    } else if (arg == "--trace") {
      ok = need(&a->trace);
    } else if (arg == "--policies") {
      ok = need(&a->policies);
    } else if (arg == "--sizes") {
      ok = need(&a->sizes);
    } else if (arg == "--format") {
      ok = need(&a->format);
    } else if (arg == "--out" || arg == "-o") {
      ok = need(&a->out);
    } else if (arg == "--svg") {
      ok = need(&a->svg);
    } else if (arg == "--threads") {
      std::string t;
      ok = need(&t);
      char* end = nullptr;
      const unsigned long n = ok ? std::strtoul(t.c_str(), &end, 10) : 0;
      ok = ok && end && *end == '\0' && n >= 1 && n <= kThreadsMax;
      a->threads = static_cast<unsigned>(n);
      if (!ok) std::fprintf(stderr, "strata-bench sim: --threads needs 1..%u\n", kThreadsMax);
    } else if (arg == "--progress") {
      a->progress = 1;
    } else if (arg == "--no-progress") {
      a->progress = 0;
    } else {
      std::fprintf(stderr, "strata-bench sim: unknown option '%s' (see --help)\n", argv[i]);
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "strata-bench sim: %s needs a value\n", arg.c_str());
      return false;
    }
  }
  return true;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  f.close();
  if (!f) std::fprintf(stderr, "strata-bench sim: cannot write %s\n", path.c_str());
  return static_cast<bool>(f);
}

}  // namespace

const char* sim_usage() {
  return "usage: strata-bench sim --trace SPEC [options]\n"
         "  Replays a trace through eviction policies at several cache sizes.\n"
         "  --trace SPEC       zipf:alpha=1.0,objects=1000000,requests=10000000,seed=1\n"
         "                     uniform:objects=N,requests=R,seed=S   loop:objects=N,requests=R\n"
         "                     scan:alpha=A,objects=N,requests=R,scan_every=E,scan_len=L\n"
         "                     shift:objects=N,requests=R,hot=H,hot_frac=F,period=P\n"
         "                     onehit:alpha=A,objects=N,requests=R,onehit=F\n"
         "                     recency:requests=R,new=F,window=W\n"
         "                     (generators also take seed=S and size=N or size=A..B bytes)\n"
         "                     csv:FILE (key[,size[,op]])   oracle:FILE (libCacheSim "
         "oracleGeneral)\n"
         "  --policies LIST    comma-separated, e.g. fifo,lru,clock,sieve,s3fifo,wtinylfu,arc,\n"
         "                     lirs,belady,adaptive (default lru,s3fifo)\n"
         "  --sizes LIST       objects (1000, 10k), bytes (64MB, 1GB) or % of the working set\n"
         "                     (default 0.1%,1%,10%)\n"
         "  --format F         table (default), csv, json\n"
         "  --out FILE         write the table/csv/json there instead of stdout\n"
         "  --svg FILE         also plot miss ratio against cache size\n"
         "  --threads N        run policy x size pairs on N threads (default 1)\n"
         "  --progress, --no-progress   progress bar on stderr (default: when it is a tty)\n";
}

int run_sim(int argc, char** argv) {
  SimArgs a;
  bool help = false;
  if (!parse_args(argc, argv, &a, &help)) return 2;
  if (help) {
    std::fputs(sim_usage(), stdout);
    return 0;
  }
  if (a.trace.empty()) {
    std::fprintf(stderr, "strata-bench sim: --trace is required\n%s", sim_usage());
    return 2;
  }
  if (a.format != "table" && a.format != "csv" && a.format != "json") {
    std::fprintf(stderr, "strata-bench sim: --format must be table, csv or json\n");
    return 2;
  }
  auto trace = load_trace(a.trace);
  if (!trace) {
    std::fprintf(stderr, "strata-bench sim: --trace: %s\n", trace.error().c_str());
    return 2;
  }
  const WorkingSet ws = working_set(*trace);
  std::vector<CacheSize> sizes;
  for (const auto& s : split(a.sizes)) {
    auto size = parse_cache_size(s, *trace, ws);
    if (!size) {
      std::fprintf(stderr, "strata-bench sim: --sizes: %s\n", size.error().c_str());
      return 2;
    }
    sizes.push_back(*size);
  }
  const std::vector<std::string> policies = split(a.policies);
  if (sizes.empty() || policies.empty()) {
    std::fprintf(stderr, "strata-bench sim: --sizes and --policies must not be empty\n");
    return 2;
  }
  SimOptions options{.threads = a.threads,
                     .progress = a.progress < 0 ? isatty(STDERR_FILENO) == 1 : a.progress == 1};
  auto results = run_sims(*trace, policies, sizes, options);
  if (!results) {
    std::fprintf(stderr, "strata-bench sim: %s\n", results.error().c_str());
    return 2;
  }
  const std::string text = a.format == "csv"    ? format_csv(*results)
                           : a.format == "json" ? format_json(a.trace, *results)
                                                : format_table(*results);
  if (a.out.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else if (!write_file(a.out, text)) {
    return 1;
  }
  if (!a.svg.empty() && !write_file(a.svg, render_svg(a.trace, *results))) return 1;
  return 0;
}

}  // namespace strata::bench
