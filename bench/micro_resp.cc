// Micro-benchmarks of the RESP codecs: request parsing of pipelined batches, reply composing
// and reply scanning. Run: strata-micro --benchmark_filter=Resp
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "protocol/reply_scanner.h"
#include "protocol/reply_writer.h"
#include "protocol/resp_parser.h"

namespace {

using strata::protocol::ParseStatus;
using strata::protocol::ReplyScanner;
using strata::protocol::ReplyWriter;
using strata::protocol::RespParser;
using strata::protocol::ScanStatus;

std::string get_batch(int64_t commands, bool inline_form) {
  std::string batch;
  char key[32];
  for (int64_t i = 0; i < commands; ++i) {
    std::snprintf(key, sizeof(key), "key:%04lld", static_cast<long long>(i));
    if (inline_form) {
      batch += std::string("GET ") + key + "\r\n";
    } else {
      batch += std::string("*2\r\n$3\r\nGET\r\n$8\r\n") + key + "\r\n";
    }
  }
  return batch;
}

// ns per command = 1 / items_per_second; also shown directly as the "per_cmd" counter.
void parse_batch(benchmark::State& state, bool inline_form) {
  const std::string batch = get_batch(state.range(0), inline_form);
  RespParser parser;
  for (auto _ : state) {
    std::string_view rest = batch;
    while (!rest.empty()) {
      if (parser.feed(rest) != ParseStatus::kDone) state.SkipWithError("parse failed");
      benchmark::DoNotOptimize(parser.args().data());
      rest.remove_prefix(parser.consumed());
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(batch.size()));
  state.counters["per_cmd"] = benchmark::Counter(
      static_cast<double>(state.range(0)),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_RespParseMultibulkGet(benchmark::State& state) { parse_batch(state, false); }
void BM_RespParseInlineGet(benchmark::State& state) { parse_batch(state, true); }
BENCHMARK(BM_RespParseMultibulkGet)->Arg(16)->Arg(100);
BENCHMARK(BM_RespParseInlineGet)->Arg(16)->Arg(100);

// One GET's worth of parsing fed one byte at a time (slow clients): resumable scanning.
void BM_RespParseBytewise(benchmark::State& state) {
  const std::string command = get_batch(1, false);
  RespParser parser;
  for (auto _ : state) {
    for (size_t n = 1; n <= command.size(); ++n) {
      benchmark::DoNotOptimize(parser.feed(std::string_view(command).substr(0, n)));
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RespParseBytewise);

// Writer cost of one bulk reply of range(0) bytes into a reused buffer.
void BM_RespWriteBulk(benchmark::State& state) {
  const std::string value(static_cast<size_t>(state.range(0)), 'v');
  std::string out;
  ReplyWriter writer(&out, 2);
  for (auto _ : state) {
    out.clear();
    writer.bulk(value);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RespWriteBulk)->Arg(16)->Arg(100)->Arg(1024)->Arg(16 * 1024);

// 100 pipelined GET replies composed back to back (what one batch costs the writer).
void BM_RespWriteBulkBatch(benchmark::State& state) {
  const std::string value(static_cast<size_t>(state.range(0)), 'v');
  std::string out;
  ReplyWriter writer(&out, 2);
  constexpr int kReplies = 100;
  for (auto _ : state) {
    out.clear();
    for (int i = 0; i < kReplies; ++i) writer.bulk(value);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * kReplies);
}
BENCHMARK(BM_RespWriteBulkBatch)->Arg(16)->Arg(100);

void BM_RespWriteInteger(benchmark::State& state) {
  std::string out;
  ReplyWriter writer(&out, 2);
  int64_t v = 1234567;
  for (auto _ : state) {
    out.clear();
    writer.integer(v++);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RespWriteInteger);

// Scanning 100 pipelined bulk replies from an upstream Redis.
void BM_RespScanBulkReplies(benchmark::State& state) {
  std::string stream;
  ReplyWriter writer(&stream, 2);
  const std::string value(static_cast<size_t>(state.range(0)), 'v');
  constexpr int kReplies = 100;
  for (int i = 0; i < kReplies; ++i) writer.bulk(value);
  ReplyScanner scanner;
  for (auto _ : state) {
    std::string_view rest = stream;
    while (!rest.empty()) {
      if (scanner.feed(rest) != ScanStatus::kDone) state.SkipWithError("scan failed");
      benchmark::DoNotOptimize(scanner.payload().data());
      rest.remove_prefix(scanner.consumed());
    }
  }
  state.SetItemsProcessed(state.iterations() * kReplies);
}
BENCHMARK(BM_RespScanBulkReplies)->Arg(16)->Arg(1024);

}  // namespace
