// A progress bar on stderr for long simulations: a thread that redraws one line from a shared
// counter of replayed requests. Disabled, it does nothing and starts no thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace strata::bench {

class ProgressBar {
 public:
  ProgressBar(bool enabled, uint64_t total, const std::atomic<uint64_t>* done);
  ~ProgressBar() { finish(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  // Draws the final state and ends the line; idempotent.
  void finish();

 private:
  void draw(bool last);

  uint64_t total_;
  const std::atomic<uint64_t>* done_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::chrono::steady_clock::time_point start_;
  std::thread thread_;
};

}  // namespace strata::bench
