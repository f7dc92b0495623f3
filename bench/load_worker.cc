#include "bench/load_worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include "bench/load_io.h"
#include "bench/load_net.h"
#include "bench/load_reply_counter.h"

namespace strata::bench {

void LoadPlan::note_once(const std::string& note) const {
  if (noted != nullptr && !noted->exchange(true)) std::fprintf(stderr, "note: %s\n", note.c_str());
}

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

namespace {

// Replies are streamed through the scanner, so this only bounds bytes per recv, not reply size.
constexpr size_t kRecvBufferBytes = 32 * 1024;
// Per request: head + key digits + CRLF + "$<len>\r\n" + value + CRLF.
constexpr size_t kCommandOverheadBytes = kKeyDigits + 2 + 16 + 2;

enum class Cmd : uint8_t { kGet, kSet, kDel };

struct Conn {
  enum class State : uint8_t {
    kBusy,  // a batch is in flight: its send and/or recv are queued
    kIdle,  // finished: budget spent or phase is kStop
    kDead,  // socket error; shut down, its queued ops drain with errors
  };
  int fd = -1;
  State state = State::kIdle;
  int inflight = 0;  // queued io_uring ops on this connection
  std::unique_ptr<char[]> send_buf;
  size_t send_len = 0;
  size_t send_off = 0;
  std::unique_ptr<char[]> recv_buf;
  std::unique_ptr<Cmd[]> cmds;  // command kinds of the batch, for hit/miss accounting
  uint32_t batch_size = 0;
  uint32_t replies = 0;
  bool measured = false;
  uint64_t batch_start_ns = 0;
  ReplyCounter scanner;
};

char* write_digits(char* out, uint64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return out + width;
}

char* write_decimal(char* out, uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) *out++ = tmp[--n];
  return out;
}

class Worker {
 public:
  Worker(const LoadPlan& plan, WorkerSlice slice, WorkerStats& stats)
      : plan_(plan), opt_(*plan.options), slice_(slice), stats_(stats), rng_(slice.seed) {}
  ~Worker();
  void run();

 private:
  bool setup();
  void fail(const std::string& message);
  void queue_send(uint32_t index);
  void queue_recv(uint32_t index);
  void start_batch(uint32_t index);
  void build_batch(Conn& c, uint32_t count);
  Cmd pick_command(const KeyDraw& draw);
  uint64_t value_length(const KeyDraw& draw);
  void on_send(uint32_t index, int res);
  void on_recv(uint32_t index, int res);
  void kill(uint32_t index, const char* why, int err);
  void finish(Conn& c);

  const LoadPlan& plan_;
  const LoadOptions& opt_;
  WorkerSlice slice_;
  WorkerStats& stats_;
  Rng rng_;
  std::unique_ptr<LoadIo> io_;
  std::vector<IoCompletion> completions_;
  std::vector<Conn> conns_;
  int busy_ = 0;  // connections in kBusy
  int inflight_ = 0;
  uint64_t budget_left_ = 0;
  uint64_t completed_ = 0;
  uint64_t get_threshold_ = 0;  // rng value below which a request is a GET
  uint64_t sequence_ = 0;  // cursor of the sequential key distribution, shared by the connections
};

Worker::~Worker() {
  io_.reset();  // before the sockets it may still reference
  for (Conn& c : conns_) {
    if (c.fd >= 0) close(c.fd);
  }
}

void Worker::fail(const std::string& message) {
  if (stats_.first_error.empty()) stats_.first_error = message;
  stats_.errors.fetch_add(1, std::memory_order_relaxed);
}

bool Worker::setup() {
  const uint64_t total = uint64_t{opt_.get_weight} + opt_.set_weight;
  get_threshold_ = opt_.set_weight == 0
                       ? UINT64_MAX
                       : static_cast<uint64_t>(static_cast<long double>(opt_.get_weight) / total *
                                               18446744073709551616.0L);
  budget_left_ = slice_.requests;
  sequence_ = slice_.sequence_start;
  const size_t per_cmd = plan_.set_head.size() + kCommandOverheadBytes + opt_.value_max;
  conns_.resize(static_cast<size_t>(slice_.connections));
  for (Conn& c : conns_) {
    std::string error;
    c.fd = connect_tcp(*plan_.target, 0, error);
    static constexpr std::string_view kTracking =
        "*3\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\nON\r\n";
    if (c.fd < 0 || (opt_.resp3 && !hello3(c.fd, error)) ||
        (opt_.tracking && !setup_command(c.fd, kTracking, "CLIENT TRACKING ON", error))) {
      fail(error);
      return false;
    }
    c.send_buf = std::make_unique<char[]>(per_cmd * static_cast<size_t>(opt_.pipeline));
    c.recv_buf = std::make_unique<char[]>(kRecvBufferBytes);
    c.cmds = std::make_unique<Cmd[]>(static_cast<size_t>(opt_.pipeline));
  }
  std::string note;
  auto io = make_load_io(opt_.io, static_cast<uint32_t>(conns_.size()), note);
  if (!io) {
    fail(io.error());
    return false;
  }
  if (!note.empty()) plan_.note_once(note);
  io_ = std::move(*io);
  completions_.reserve(2 * conns_.size() + 256);
  return true;
}

void Worker::queue_send(uint32_t index) {
  Conn& c = conns_[index];
  io_->send(index, c.fd, c.send_buf.get() + c.send_off, c.send_len - c.send_off);
  ++c.inflight;
  ++inflight_;
}

void Worker::queue_recv(uint32_t index) {
  Conn& c = conns_[index];
  io_->recv(index, c.fd, c.recv_buf.get(), kRecvBufferBytes);
  ++c.inflight;
  ++inflight_;
}

Cmd Worker::pick_command(const KeyDraw& draw) {
  if (draw.has_op) {
    return draw.op == Op::kGet ? Cmd::kGet : draw.op == Op::kSet ? Cmd::kSet : Cmd::kDel;
  }
  return rng_.next() < get_threshold_ ? Cmd::kGet : Cmd::kSet;
}

uint64_t Worker::value_length(const KeyDraw& draw) {
  if (draw.has_size) return std::clamp<uint64_t>(draw.size, opt_.value_min, opt_.value_max);
  const uint64_t span = uint64_t{opt_.value_max} - opt_.value_min + 1;
  return opt_.value_min + (span > 1 ? rng_.below(span) : 0);
}

void Worker::build_batch(Conn& c, uint32_t count) {
  char* out = c.send_buf.get();
  for (uint32_t i = 0; i < count; ++i) {
    const KeyDraw draw = plan_.keys->next_draw(rng_, sequence_);
    const Cmd cmd = pick_command(draw);
    const std::string& head = cmd == Cmd::kGet   ? plan_.get_head
                              : cmd == Cmd::kSet ? plan_.set_head
                                                 : plan_.del_head;
    std::memcpy(out, head.data(), head.size());
    out = write_digits(out + head.size(), draw.key, kKeyDigits);
    *out++ = '\r';
    *out++ = '\n';
    c.cmds[i] = cmd;
    if (cmd == Cmd::kSet) {
      const uint64_t len = value_length(draw);
      *out++ = '$';
      out = write_decimal(out, len);
      *out++ = '\r';
      *out++ = '\n';
      std::memcpy(out, plan_.value_bytes.data(), len);
      out += len;
      *out++ = '\r';
      *out++ = '\n';
    }
  }
  c.send_len = static_cast<size_t>(out - c.send_buf.get());
  c.send_off = 0;
  c.batch_size = count;
  c.replies = 0;
}

void Worker::finish(Conn& c) {
  c.state = Conn::State::kIdle;
  --busy_;
}

void Worker::start_batch(uint32_t index) {
  Conn& c = conns_[index];
  const auto phase = static_cast<LoadPhase>(plan_.phase->load(std::memory_order_relaxed));
  if (phase == LoadPhase::kStop) return finish(c);
  c.measured = phase == LoadPhase::kMeasure;
  uint32_t count = static_cast<uint32_t>(opt_.pipeline);
  if (c.measured && slice_.requests != 0) {
    if (budget_left_ == 0) return finish(c);
    if (budget_left_ < count) count = static_cast<uint32_t>(budget_left_);
    budget_left_ -= count;
  }
  build_batch(c, count);
  c.batch_start_ns = monotonic_ns();
  queue_send(index);
  queue_recv(index);
}

void Worker::kill(uint32_t index, const char* why, int err) {
  Conn& c = conns_[index];
  if (c.state == Conn::State::kDead) return;
  if (c.state == Conn::State::kBusy) --busy_;
  c.state = Conn::State::kDead;
  ++stats_.connection_errors;
  fail(std::string(why) + (err != 0 ? std::string(": ") + std::strerror(err) : ""));
  shutdown(c.fd, SHUT_RDWR);  // wakes the connection's queued ops so the ring drains
}

void Worker::on_send(uint32_t index, int res) {
  Conn& c = conns_[index];
  if (c.state == Conn::State::kDead) return;
  if (res < 0) return kill(index, "send", -res);
  c.send_off += static_cast<size_t>(res);
  if (c.send_off < c.send_len) return queue_send(index);  // short send: push the rest
  // The replies may have been reaped before this completion; then the batch is done now.
  if (c.replies == c.batch_size) start_batch(index);
}

void Worker::on_recv(uint32_t index, int res) {
  Conn& c = conns_[index];
  if (c.state == Conn::State::kDead) return;
  if (res <= 0) return kill(index, res == 0 ? "server closed the connection" : "recv", -res);
  const uint32_t before = c.replies;
  bool overflow = false;
  const bool ok = c.scanner.feed(
      std::string_view(c.recv_buf.get(), static_cast<size_t>(res)), [&](ReplyClass cls) {
        if (c.replies >= c.batch_size) {
          overflow = true;
          return;
        }
        const Cmd cmd = c.cmds[c.replies++];
        if (!c.measured) return;
        if (cls == ReplyClass::kError) {
          ++stats_.error_replies;
          stats_.errors.fetch_add(1, std::memory_order_relaxed);
        } else if (cmd == Cmd::kGet) {
          ++(cls == ReplyClass::kValue ? stats_.get_hits : stats_.get_misses);
        }
        ++(cmd == Cmd::kGet ? stats_.gets : cmd == Cmd::kSet ? stats_.sets : stats_.dels);
      });
  if (!ok || overflow) return kill(index, "unexpected reply bytes", 0);
  const uint32_t done = c.replies - before;
  if (c.measured && done != 0) {
    const uint64_t now = monotonic_ns();
    stats_.latency_ns.record_n(now - c.batch_start_ns, done);
    stats_.last_completion_ns = now;
    completed_ += done;
    stats_.completed.store(completed_, std::memory_order_relaxed);
  }
  if (c.replies < c.batch_size) return queue_recv(index);
  if (c.send_off == c.send_len) start_batch(index);  // else on_send starts the next batch
}

void Worker::run() {
  if (!setup()) return;
  plan_.ready->fetch_add(1, std::memory_order_release);
  // Wait for the coordinator so every worker's first batch starts in the same phase.
  while (plan_.phase->load(std::memory_order_acquire) == static_cast<int>(LoadPhase::kSetup)) {
    const timespec pause{0, 200000};
    nanosleep(&pause, nullptr);
  }
  busy_ = static_cast<int>(conns_.size());
  for (uint32_t i = 0; i < conns_.size(); ++i) {
    conns_[i].state = Conn::State::kBusy;
    start_batch(i);
  }
  while (busy_ > 0 || inflight_ > 0) {
    completions_.clear();
    if (auto ok = io_->wait(completions_); !ok) return fail(ok.error());
    for (const IoCompletion& done : completions_) {
      --conns_[done.slot].inflight;
      --inflight_;
      if (done.op == IoOp::kSend) {
        on_send(done.slot, done.res);
      } else {
        on_recv(done.slot, done.res);
      }
    }
  }
}

}  // namespace

void run_worker(const LoadPlan& plan, WorkerSlice slice, WorkerStats& stats) noexcept {
  try {
    Worker worker(plan, slice, stats);
    worker.run();
  } catch (const std::exception& e) {  // allocation failure at start-up
    if (stats.first_error.empty()) stats.first_error = e.what();
    stats.errors.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace strata::bench
