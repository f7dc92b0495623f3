#include "bench/load_runner.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "bench/load_info.h"
#include "bench/load_worker.h"

namespace strata::bench {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(20);
constexpr uint64_t kProgressIntervalNs = 1000000000ull;

std::optional<uint64_t> delta(std::optional<uint64_t> before, std::optional<uint64_t> after) {
  if (!before || !after || *after < *before) return std::nullopt;
  return *after - *before;
}

struct CpuSample {
  std::optional<double> seconds;
  std::string source;
};

CpuSample sample_cpu(const Target& target, const std::expected<ServerInfo, std::string>& info) {
  if (target.pid > 0) return {process_cpu_seconds(target.pid), "proc"};
  if (info && info->used_cpu_s) return {info->used_cpu_s, "info"};
  return {};
}

std::string build_head(const char* verb_array, const std::string& prefix) {
  return std::string(verb_array) + "$" + std::to_string(prefix.size() + kKeyDigits) + "\r\n" +
         prefix;
}

class Progress {
 public:
  Progress(bool enabled, std::string label, int round)
      : enabled_(enabled),
        tty_(isatty(STDERR_FILENO) == 1),
        label_(std::move(label)),
        round_(round) {}
  void tick(uint64_t now_ns, uint64_t start_ns, uint64_t completed, uint64_t errors,
            bool final = false);
  void done() const {
    if (enabled_ && tty_ && printed_) std::fputc('\n', stderr);
  }

 private:
  bool enabled_;
  bool tty_;
  std::string label_;
  int round_;
  bool printed_ = false;
  uint64_t last_ns_ = 0;
  uint64_t last_completed_ = 0;
};

void Progress::tick(uint64_t now_ns, uint64_t start_ns, uint64_t completed, uint64_t errors,
                    bool final) {
  if (!enabled_) return;
  if (last_ns_ == 0) last_ns_ = start_ns;
  if (!final && now_ns - last_ns_ < kProgressIntervalNs) return;
  // Periodic lines show the last interval's rate; the final one the run's average.
  const uint64_t from_ns = final ? start_ns : last_ns_;
  const uint64_t from_completed = final ? 0 : last_completed_;
  const double window_s = static_cast<double>(now_ns - from_ns) / 1e9;
  const double rate = window_s > 0 ? static_cast<double>(completed - from_completed) / window_s : 0;
  std::fprintf(stderr, "%s[%s round %d] %5.1fs  %10.0f req/s%s  %12llu requests  %llu errors%s",
               tty_ ? "\r" : "", label_.c_str(), round_,
               static_cast<double>(now_ns - start_ns) / 1e9, rate, final ? " avg" : "    ",
               static_cast<unsigned long long>(completed), static_cast<unsigned long long>(errors),
               tty_ ? "   " : "\n");
  std::fflush(stderr);
  printed_ = true;
  last_ns_ = now_ns;
  last_completed_ = completed;
}

double self_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return sec(usage.ru_utime) + sec(usage.ru_stime);
}

struct Totals {
  uint64_t completed = 0;
  uint64_t errors = 0;
};

Totals live_totals(const WorkerStats* stats, int threads) {
  Totals t;
  for (int i = 0; i < threads; ++i) {
    t.completed += stats[i].completed.load(std::memory_order_relaxed);
    t.errors += stats[i].errors.load(std::memory_order_relaxed);
  }
  return t;
}

void merge_stats(const WorkerStats* stats, int threads, RunResult& r, uint64_t& last_ns) {
  for (int i = 0; i < threads; ++i) {
    const WorkerStats& s = stats[i];
    r.requests += s.completed.load(std::memory_order_relaxed);
    r.errors += s.errors.load(std::memory_order_relaxed);
    r.gets += s.gets;
    r.sets += s.sets;
    r.dels += s.dels;
    r.get_hits += s.get_hits;
    r.get_misses += s.get_misses;
    r.latency_ns.merge(s.latency_ns);
    last_ns = std::max(last_ns, s.last_completion_ns);
    if (r.first_error.empty()) r.first_error = s.first_error;
  }
}

}  // namespace

std::optional<double> RunResult::client_hit_ratio() const {
  if (get_hits + get_misses == 0) return std::nullopt;
  return static_cast<double>(get_hits) / static_cast<double>(get_hits + get_misses);
}

std::optional<double> RunResult::server_hit_ratio() const {
  if (!server_hits || !server_misses || *server_hits + *server_misses == 0) return std::nullopt;
  return static_cast<double>(*server_hits) / static_cast<double>(*server_hits + *server_misses);
}

std::optional<double> RunResult::l1_hit_ratio() const {
  if (!l1_hits || gets == 0) return std::nullopt;
  return static_cast<double>(*l1_hits) / static_cast<double>(gets);
}

std::optional<double> RunResult::client_cpu_us_per_request() const {
  if (requests == 0) return std::nullopt;
  return client_cpu_s * 1e6 / static_cast<double>(requests);
}

std::optional<double> RunResult::cpu_us_per_request() const {
  if (!server_cpu_s || requests == 0) return std::nullopt;
  return *server_cpu_s * 1e6 / static_cast<double>(requests);
}

void RunResult::accumulate(const RunResult& o) {
  auto add = []<class T>(std::optional<T>& a, const std::optional<T>& b, bool first) {
    if (first)
      a = b;
    else if (a && b)
      *a += *b;
    else
      a.reset();
  };
  const bool first = requests == 0 && elapsed_s == 0;
  requests += o.requests;
  errors += o.errors;
  elapsed_s += o.elapsed_s;
  gets += o.gets;
  sets += o.sets;
  dels += o.dels;
  get_hits += o.get_hits;
  get_misses += o.get_misses;
  latency_ns.merge(o.latency_ns);
  add(server_hits, o.server_hits, first);
  add(server_misses, o.server_misses, first);
  add(l1_hits, o.l1_hits, first);
  add(server_cpu_s, o.server_cpu_s, first);
  client_cpu_s += o.client_cpu_s;
  if (cpu_source.empty()) cpu_source = o.cpu_source;
  if (first_error.empty()) first_error = o.first_error;
}

namespace {

struct ServerSample {
  std::expected<ServerInfo, std::string> info;
  CpuSample cpu;
};

ServerSample sample_server(const Target& target) {
  ServerSample s{fetch_info(target), {}};
  s.cpu = sample_cpu(target, s.info);
  return s;
}

void add_server_deltas(const ServerSample& before, const ServerSample& after, RunResult& r) {
  if (before.info && after.info) {
    r.server_hits = delta(before.info->keyspace_hits, after.info->keyspace_hits);
    r.server_misses = delta(before.info->keyspace_misses, after.info->keyspace_misses);
    r.l1_hits = delta(before.info->l1_hits, after.info->l1_hits);
  }
  if (before.cpu.seconds && after.cpu.seconds && before.cpu.source == after.cpu.source) {
    r.server_cpu_s = *after.cpu.seconds - *before.cpu.seconds;
    r.cpu_source = after.cpu.source;
  }
}

LoadPlan make_plan(const LoadOptions& options, const Target& target, const KeyGen& keys,
                   std::atomic<int>& phase, std::atomic<int>& ready, std::atomic<bool>& noted) {
  LoadPlan plan;
  plan.options = &options;
  plan.target = &target;
  plan.keys = &keys;
  plan.phase = &phase;
  plan.ready = &ready;
  plan.noted = &noted;
  plan.get_head = build_head(options.list_ops ? "*2\r\n$4\r\nLPOP\r\n" : "*2\r\n$3\r\nGET\r\n",
                             options.key_prefix);
  plan.set_head = build_head(options.list_ops ? "*3\r\n$5\r\nLPUSH\r\n" : "*3\r\n$3\r\nSET\r\n",
                             options.key_prefix);
  plan.del_head = build_head("*2\r\n$3\r\nDEL\r\n", options.key_prefix);
  plan.value_bytes.assign(options.value_max, 'x');
  return plan;
}

WorkerSlice slice_for(const LoadOptions& options, const KeyGen& keys, int i) {
  const int threads = options.threads;
  const auto index = static_cast<uint64_t>(i);
  WorkerSlice slice;
  slice.connections = options.connections / threads + (i < options.connections % threads);
  if (options.requests != 0) {
    slice.requests = options.requests / threads + (index < options.requests % threads);
  }
  slice.seed = options.seed * 1000003 + index + 1;
  slice.sequence_start = keys.cursor_start(index, static_cast<uint64_t>(threads));
  return slice;
}

void sleep_or_until_done(double seconds, const std::atomic<int>& done, int threads) {
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(seconds));
  while (std::chrono::steady_clock::now() < until && done.load() < threads) {
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace

std::expected<RunResult, std::string> run_target(const LoadOptions& options, const Target& target,
                                                 const KeyGen& keys, RunSettings settings) {
  std::atomic<int> phase{static_cast<int>(LoadPhase::kSetup)};
  std::atomic<int> ready{0};
  std::atomic<int> done{0};
  std::atomic<bool> noted{false};
  const LoadPlan plan = make_plan(options, target, keys, phase, ready, noted);
  const int threads = options.threads;
  auto stats = std::make_unique<WorkerStats[]>(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) {
    workers.emplace_back([&plan, slice = slice_for(options, keys, i), &stats, &done, i] {
      run_worker(plan, slice, stats[i]);
      done.fetch_add(1, std::memory_order_release);
    });
  }
  while (ready.load(std::memory_order_acquire) + done.load(std::memory_order_acquire) < threads) {
    std::this_thread::sleep_for(kPollInterval);
  }
  if (options.warmup_s > 0) {
    phase.store(static_cast<int>(LoadPhase::kWarmup), std::memory_order_release);
    sleep_or_until_done(options.warmup_s, done, threads);
  }
  const ServerSample before = sample_server(target);
  const double client_cpu_before = self_cpu_seconds();
  const uint64_t start_ns = monotonic_ns();
  phase.store(static_cast<int>(LoadPhase::kMeasure), std::memory_order_release);

  Progress progress(settings.progress, target.label, settings.round);
  const uint64_t stop_ns = start_ns + static_cast<uint64_t>(options.duration_s * 1e9);
  bool stopping = options.duration_s <= 0;
  while (done.load(std::memory_order_acquire) < threads) {
    std::this_thread::sleep_for(kPollInterval);
    const uint64_t now = monotonic_ns();
    if (!stopping && now >= stop_ns) {
      phase.store(static_cast<int>(LoadPhase::kStop), std::memory_order_release);
      stopping = true;
    }
    const Totals t = live_totals(stats.get(), threads);
    progress.tick(now, start_ns, t.completed, t.errors);
  }
  for (auto& w : workers) w.join();

  RunResult r;
  r.label = target.label;
  r.endpoint = target.name();
  r.round = settings.round;
  r.client_cpu_s = self_cpu_seconds() - client_cpu_before;
  uint64_t last_ns = 0;
  merge_stats(stats.get(), threads, r, last_ns);
  const uint64_t end_ns = last_ns > start_ns ? last_ns : monotonic_ns();
  progress.tick(end_ns, start_ns, r.requests, r.errors, true);
  progress.done();
  if (r.requests == 0 && !r.first_error.empty()) return std::unexpected(r.first_error);
  r.elapsed_s = static_cast<double>(end_ns - start_ns) / 1e9;
  add_server_deltas(before, sample_server(target), r);
  return r;
}

std::expected<double, std::string> prefill_target(const LoadOptions& options,
                                                  const Target& target) {
  LoadOptions fill = options;
  fill.dist = KeyDistSpec{KeyDist::kSequential, 0};
  fill.get_weight = 0;
  fill.set_weight = 1;
  fill.requests = options.keys;
  fill.duration_s = 0;
  fill.warmup_s = 0;
  fill.seed = 0;
  const KeyGen keys(fill.dist, fill.keys, 0);
  auto r = run_target(fill, target, keys, RunSettings{0, false});
  if (!r) return std::unexpected(r.error());
  if (r->errors != 0) return std::unexpected("prefill: " + r->first_error);
  return r->elapsed_s;
}

}  // namespace strata::bench
