#include "bench/sim_progress.h"

#include <cstdio>
#include <string>

namespace strata::bench {

namespace {
constexpr auto kRedrawInterval = std::chrono::milliseconds(250);
constexpr int kBarWidth = 40;
}  // namespace

ProgressBar::ProgressBar(bool enabled, uint64_t total, const std::atomic<uint64_t>* done)
    : total_(total), done_(done), start_(std::chrono::steady_clock::now()) {
  if (!enabled || total == 0) return;
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, kRedrawInterval, [this] { return stop_; })) draw(false);
  });
}

void ProgressBar::finish() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  draw(true);
}

void ProgressBar::draw(bool last) {
  const uint64_t done = std::min(done_->load(std::memory_order_relaxed), total_);
  const double frac = double(done) / double(total_);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? double(done) / secs : 0;
  const double eta = rate > 0 ? double(total_ - done) / rate : 0;
  std::string bar(kBarWidth, ' ');
  const int filled = static_cast<int>(frac * kBarWidth);
  for (int i = 0; i < filled; ++i) bar[i] = '=';
  if (filled < kBarWidth) bar[filled] = '>';
  std::fprintf(stderr, "\r[%s] %5.1f%%  %.1fM req/s  %s %.0fs%s", bar.c_str(), frac * 100,
               rate / 1e6, last ? "took" : "eta", last ? secs : eta, last ? "\n" : "   ");
  std::fflush(stderr);
}

}  // namespace strata::bench
