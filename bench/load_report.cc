#include "bench/load_report.h"

#include <optional>
#include <string>

namespace strata::bench {
namespace {

struct Ratio {
  const char* name;
  std::optional<double> value;
};

double us(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

std::optional<double> div(std::optional<double> b, std::optional<double> a) {
  if (!a || !b || *a == 0) return std::nullopt;
  return *b / *a;
}

std::vector<Ratio> ratios(const RunResult& a, const RunResult& b) {
  auto pct = [](const RunResult& r, double p) {
    return std::optional<double>(static_cast<double>(r.latency_ns.percentile(p)));
  };
  return {
      {"throughput", div(b.throughput(), a.throughput())},
      {"p50", div(pct(b, 50), pct(a, 50))},
      {"p90", div(pct(b, 90), pct(a, 90))},
      {"p99", div(pct(b, 99), pct(a, 99))},
      {"p99.9", div(pct(b, 99.9), pct(a, 99.9))},
      {"server_hit_ratio", div(b.server_hit_ratio(), a.server_hit_ratio())},
      {"cpu_per_request", div(b.cpu_us_per_request(), a.cpu_us_per_request())},
  };
}

std::string opt_text(std::optional<double> v, const char* fmt) {
  if (!v) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, *v);
  return buf;
}

std::string opt_u64(std::optional<uint64_t> v) { return v ? std::to_string(*v) : ""; }

std::vector<RunResult> totals(const LoadOptions& options, const std::vector<RunResult>& runs) {
  std::vector<RunResult> out(options.targets.size());
  for (size_t t = 0; t < out.size(); ++t) {
    out[t].label = options.targets[t].label;
    out[t].endpoint = options.targets[t].name();
    for (const RunResult& r : runs) {
      if (r.label == out[t].label) out[t].accumulate(r);
    }
    out[t].round = 0;
  }
  return out;
}

std::string config_line(const LoadOptions& o) {
  char buf[1024];
  char duration[32];
  std::snprintf(duration, sizeof(duration), "%g s", o.duration_s);
  const std::string load =
      o.duration_s > 0 ? std::string(duration) : std::to_string(o.requests) + " requests";
  const std::string value = o.value_min == o.value_max
                                ? std::to_string(o.value_min)
                                : std::to_string(o.value_min) + "-" + std::to_string(o.value_max);
  std::snprintf(buf, sizeof(buf),
                "%d connections, pipeline %d, %d thread(s), %s over %llu keys, %s %u:%u, "
                "value %s B, %s per run, warmup %g s, %d round(s)",
                o.connections, o.pipeline, o.threads,
                o.trace_spec.empty() ? key_dist_name(o.dist).c_str() : o.trace_spec.c_str(),
                static_cast<unsigned long long>(o.keys),
                o.list_ops ? "LPOP:LPUSH (counted as get:set)" : "GET:SET", o.get_weight,
                o.set_weight, value.c_str(), load.c_str(), o.warmup_s, o.rounds);
  return buf;
}

void text_run(const RunResult& r, std::FILE* out) {
  const auto& h = r.latency_ns;
  if (r.round > 0) {
    std::fprintf(out, "%s %s round %d:", r.label.c_str(), r.endpoint.c_str(), r.round);
  } else {
    std::fprintf(out, "%s %s total:", r.label.c_str(), r.endpoint.c_str());
  }
  std::fprintf(
      out, " %.0f req/s  (%llu requests in %.3f s: %llu get, %llu set, %llu del; %llu errors)\n",
      r.throughput(), static_cast<unsigned long long>(r.requests), r.elapsed_s,
      static_cast<unsigned long long>(r.gets), static_cast<unsigned long long>(r.sets),
      static_cast<unsigned long long>(r.dels), static_cast<unsigned long long>(r.errors));
  std::fprintf(out, "  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
               us(h.percentile(50)), us(h.percentile(90)), us(h.percentile(99)),
               us(h.percentile(99.9)), us(h.max()), h.mean() / 1000.0);
  const std::string source = r.cpu_source.empty() ? "" : " (" + r.cpu_source + ")";
  std::fprintf(
      out, "  hit ratio: server %s  l1 %s  client %s   cpu us/req: server %s%s  client %s\n",
      opt_text(r.server_hit_ratio(), "%.4f").c_str(), opt_text(r.l1_hit_ratio(), "%.4f").c_str(),
      opt_text(r.client_hit_ratio(), "%.4f").c_str(),
      opt_text(r.cpu_us_per_request(), "%.3f").c_str(), source.c_str(),
      opt_text(r.client_cpu_us_per_request(), "%.3f").c_str());
  if (!r.first_error.empty()) std::fprintf(out, "  first error: %s\n", r.first_error.c_str());
}

void csv_run(const char* kind, const RunResult& r, std::FILE* out) {
  const auto& h = r.latency_ns;
  std::fprintf(out,
               "%s,%s,%s,%d,%llu,%llu,%.6f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%llu,%llu,%s,%s,"
               "%s,%s,%s,%s,%s\n",
               kind, r.label.c_str(), r.endpoint.c_str(), r.round,
               static_cast<unsigned long long>(r.requests),
               static_cast<unsigned long long>(r.errors), r.elapsed_s, r.throughput(),
               us(h.percentile(50)), us(h.percentile(90)), us(h.percentile(99)),
               us(h.percentile(99.9)), us(h.max()), h.mean() / 1000.0,
               static_cast<unsigned long long>(r.gets), static_cast<unsigned long long>(r.sets),
               opt_text(r.client_hit_ratio(), "%.6f").c_str(), opt_u64(r.server_hits).c_str(),
               opt_u64(r.server_misses).c_str(), opt_text(r.server_hit_ratio(), "%.6f").c_str(),
               opt_u64(r.l1_hits).c_str(), opt_text(r.cpu_us_per_request(), "%.4f").c_str(),
               opt_text(r.client_cpu_us_per_request(), "%.4f").c_str());
}

std::string json_opt(std::optional<double> v) { return v ? opt_text(v, "%.6g") : "null"; }
std::string json_opt(std::optional<uint64_t> v) { return v ? std::to_string(*v) : "null"; }

void json_run(const RunResult& r, std::FILE* out, bool last) {
  const auto& h = r.latency_ns;
  std::fprintf(
      out,
      "    {\"target\": \"%s\", \"endpoint\": \"%s\", \"round\": %d, \"requests\": %llu, "
      "\"errors\": %llu, \"seconds\": %.6f, \"rps\": %.1f, \"p50_us\": %.1f, "
      "\"p90_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f, "
      "\"mean_us\": %.1f, \"gets\": %llu, \"sets\": %llu, \"client_hit_ratio\": %s, "
      "\"server_hits\": %s, \"server_misses\": %s, \"server_hit_ratio\": %s, "
      "\"l1_hits\": %s, \"cpu_us_per_request\": %s, \"client_cpu_us_per_request\": %s}%s\n",
      r.label.c_str(), r.endpoint.c_str(), r.round, static_cast<unsigned long long>(r.requests),
      static_cast<unsigned long long>(r.errors), r.elapsed_s, r.throughput(), us(h.percentile(50)),
      us(h.percentile(90)), us(h.percentile(99)), us(h.percentile(99.9)), us(h.max()),
      h.mean() / 1000.0, static_cast<unsigned long long>(r.gets),
      static_cast<unsigned long long>(r.sets), json_opt(r.client_hit_ratio()).c_str(),
      json_opt(r.server_hits).c_str(), json_opt(r.server_misses).c_str(),
      json_opt(r.server_hit_ratio()).c_str(), json_opt(r.l1_hits).c_str(),
      json_opt(r.cpu_us_per_request()).c_str(), json_opt(r.client_cpu_us_per_request()).c_str(),
      last ? "" : ",");
}

void print_text(const LoadOptions& o, const std::vector<RunResult>& runs,
                const std::vector<RunResult>& tot, std::FILE* out) {
  std::fprintf(out, "strata-bench load: %s\n", config_line(o).c_str());
  for (const RunResult& r : runs) text_run(r, out);
  if (o.rounds > 1 || tot.size() > 1) {
    for (const RunResult& r : tot) text_run(r, out);
  }
  if (tot.size() == 2) {
    std::fprintf(out, "B/A:");
    for (const Ratio& q : ratios(tot[0], tot[1])) {
      std::fprintf(out, "  %s %s", q.name, opt_text(q.value, "%.3fx").c_str());
    }
    std::fprintf(out, "\n");
  }
}

}  // namespace

void print_load_report(const LoadOptions& o, const std::vector<RunResult>& runs, std::FILE* out) {
  const std::vector<RunResult> tot = totals(o, runs);
  switch (o.format) {
    case OutputFormat::kText:
      print_text(o, runs, tot, out);
      break;
    case OutputFormat::kCsv: {
      std::fprintf(out,
                   "kind,target,endpoint,round,requests,errors,seconds,rps,p50_us,p90_us,"
                   "p99_us,p999_us,max_us,mean_us,gets,sets,client_hit_ratio,server_hits,"
                   "server_misses,server_hit_ratio,l1_hits,cpu_us_per_request,"
                   "client_cpu_us_per_request\n");
      for (const RunResult& r : runs) csv_run("run", r, out);
      for (const RunResult& r : tot) csv_run("total", r, out);
      if (tot.size() == 2) {
        for (const Ratio& q : ratios(tot[0], tot[1])) {
          std::fprintf(out, "ratio,B/A,%s,,,,,%s\n", q.name, opt_text(q.value, "%.6f").c_str());
        }
      }
      break;
    }
    case OutputFormat::kJson: {
      std::fprintf(out, "{\n  \"config\": \"%s\",\n  \"runs\": [\n", config_line(o).c_str());
      for (size_t i = 0; i < runs.size(); ++i) json_run(runs[i], out, i + 1 == runs.size());
      std::fprintf(out, "  ],\n  \"totals\": [\n");
      for (size_t i = 0; i < tot.size(); ++i) json_run(tot[i], out, i + 1 == tot.size());
      std::fprintf(out, "  ]");
      if (tot.size() == 2) {
        std::fprintf(out, ",\n  \"ratios_b_over_a\": {");
        const auto qs = ratios(tot[0], tot[1]);
        for (size_t i = 0; i < qs.size(); ++i) {
          std::fprintf(out, "%s\"%s\": %s", i ? ", " : "", qs[i].name,
                       json_opt(qs[i].value).c_str());
        }
        std::fprintf(out, "}");
      }
      std::fprintf(out, "\n}\n");
      break;
    }
  }
}

}  // namespace strata::bench
