#include "protocol/ws_frame.h"

#include <algorithm>
#include <cstring>

namespace strata::protocol {
namespace {

using E = WsErrorCode;

constexpr uint8_t kFinBit = 0x80;
constexpr uint8_t kReservedBitsMask = 0x70;
constexpr uint8_t kOpcodeMask = 0x0f;
constexpr uint8_t kMaskBit = 0x80;
constexpr uint8_t kLengthMask = 0x7f;
constexpr uint8_t kLength16 = 126;
constexpr uint8_t kLength64 = 127;
constexpr size_t kMaskKeyBytes = 4;
constexpr size_t kCloseCodeBytes = 2;
constexpr uint64_t kLengthMsb = uint64_t{1} << 63;

uint8_t byte_of(char c) { return static_cast<uint8_t>(c); }

bool is_control(WsOpcode op) { return static_cast<uint8_t>(op) >= 8; }

bool known_opcode(uint8_t op) { return op <= 2 || (op >= 8 && op <= 10); }

uint64_t load_be(const char* p, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v = (v << 8) | byte_of(p[i]);
  return v;
}

// dst[i] = src[i] ^ mask[(offset + i) % 4], eight bytes at a time; dst may be src.
void apply_mask(char* dst, const char* src, size_t n, const std::array<char, 4>& mask,
                uint64_t offset) {
  std::array<char, 8> rotated;
  for (size_t i = 0; i < rotated.size(); ++i) rotated[i] = mask[(offset + i) % kMaskKeyBytes];
  uint64_t word_mask;
  std::memcpy(&word_mask, rotated.data(), sizeof(word_mask));
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, src + i, sizeof(word));
    word ^= word_mask;
    std::memcpy(dst + i, &word, sizeof(word));
  }
  for (; i < n; ++i) dst[i] = static_cast<char>(src[i] ^ rotated[i % kMaskKeyBytes]);
}

// Writes byte 0, byte 1 and the length (not the mask key); returns the bytes written.
size_t put_header(char* out, WsOpcode opcode, uint64_t length, bool fin, bool masked) {
  out[0] = static_cast<char>((fin ? kFinBit : 0) | static_cast<uint8_t>(opcode));
  const char mask_bit = static_cast<char>(masked ? kMaskBit : 0);
  if (length < kLength16) {
    out[1] = static_cast<char>(mask_bit | static_cast<char>(length));
    return 2;
  }
  const size_t bytes = length <= 0xffff ? 2 : 8;
  out[1] = static_cast<char>(mask_bit | static_cast<char>(bytes == 2 ? kLength16 : kLength64));
  for (size_t i = 0; i < bytes; ++i) {
    out[2 + i] = static_cast<char>((length >> (8 * (bytes - 1 - i))) & 0xff);
  }
  return 2 + bytes;
}

bool control_frame_ok(WsOpcode opcode, size_t payload_bytes, bool fin) {
  return !is_control(opcode) || (fin && payload_bytes <= kWsControlBytesMax);
}

}  // namespace

WsError ws_error(WsErrorCode code) {
  switch (code) {
    case E::kNone:
      return {};
    case E::kReservedBits:
      return {code, kWsCloseProtocolError, "websocket: reserved bits set (no extension)"};
    case E::kUnknownOpcode:
      return {code, kWsCloseProtocolError, "websocket: unknown opcode"};
    case E::kUnmasked:
      return {code, kWsCloseProtocolError, "websocket: client frame not masked"};
    case E::kMasked:
      return {code, kWsCloseProtocolError, "websocket: server frame masked"};
    case E::kLengthMsbSet:
      return {code, kWsCloseProtocolError, "websocket: 64-bit length with its top bit set"};
    case E::kControlTooLong:
      return {code, kWsCloseProtocolError, "websocket: control frame payload past 125 bytes"};
    case E::kControlFragmented:
      return {code, kWsCloseProtocolError, "websocket: fragmented control frame"};
    case E::kContinuationWithoutStart:
      return {code, kWsCloseProtocolError, "websocket: continuation frame with no message open"};
    case E::kDataInsideFragmented:
      return {code, kWsCloseProtocolError, "websocket: new data frame inside a fragmented message"};
    case E::kCloseOneByte:
      return {code, kWsCloseProtocolError, "websocket: close payload of one byte"};
    case E::kBadCloseCode:
      return {code, kWsCloseProtocolError, "websocket: invalid close code"};
    case E::kFrameTooBig:
      return {code, kWsCloseTooBig, "websocket: frame past frame_bytes_max"};
    case E::kMessageTooBig:
      return {code, kWsCloseTooBig, "websocket: message past message_bytes_max"};
    case E::kInvalidUtf8:
      return {code, kWsCloseInvalidPayload, "websocket: text message is not valid UTF-8"};
    case E::kTextEndsMidCodePoint:
      return {code, kWsCloseInvalidPayload, "websocket: text message ends inside a code point"};
    case E::kInvalidCloseReason:
      return {code, kWsCloseInvalidPayload, "websocket: close reason is not valid UTF-8"};
  }
  return {code, kWsCloseProtocolError, "websocket: unknown error"};
}

bool ws_close_code_valid(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

std::string_view ws_limits_problem(const WsLimits& limits) {
  if (limits.message_bytes_max < 1) return "websocket limits: message_bytes_max must be 1 or more";
  if (limits.frame_bytes_max < 1 || limits.frame_bytes_max > limits.message_bytes_max) {
    return "websocket limits: frame_bytes_max must be 1..message_bytes_max";
  }
  return {};
}

WsFrameDecoder::WsFrameDecoder(WsLimits limits, WsRole role) : limits_(limits), role_(role) {}

void WsFrameDecoder::reset() { *this = WsFrameDecoder(limits_, role_); }

size_t WsFrameDecoder::heap_bytes() const {
  return message_.capacity() > std::string().capacity() ? message_.capacity() : 0;
}

void WsFrameDecoder::release_message() {
  std::string().swap(message_);
  release_pending_ = false;
}

bool WsFrameDecoder::fail(WsErrorCode code) {
  stage_ = Stage::kFailed;
  error_ = code;
  release_message();
  return false;
}

WsEvent WsFrameDecoder::event() const {
  WsEvent e;
  switch (last_) {
    case WsStatus::kMessage:
      e.opcode = delivered_opcode_;
      e.payload = message_;
      break;
    case WsStatus::kPing:
    case WsStatus::kPong:
      e.opcode = opcode_;
      e.payload = std::string_view(control_.data(), control_bytes_);
      break;
    case WsStatus::kClose:
      e.opcode = WsOpcode::kClose;
      e.close_code = kWsCloseNoStatus;
      if (control_bytes_ >= kCloseCodeBytes) {
        e.close_code = static_cast<uint16_t>(load_be(control_.data(), kCloseCodeBytes));
        e.close_reason =
            std::string_view(control_.data() + kCloseCodeBytes, control_bytes_ - kCloseCodeBytes);
      }
      break;
    case WsStatus::kNeedMore:
    case WsStatus::kError:
      break;
  }
  return e;
}

WsStatus WsFrameDecoder::feed(std::string_view input) {
  consumed_ = 0;
  last_ = WsStatus::kNeedMore;
  if (release_pending_) release_message();
  while (true) {
    switch (stage_) {
      case Stage::kHeader:
        if (consumed_ == input.size()) return WsStatus::kNeedMore;
        if (!take_header(input)) return WsStatus::kError;
        break;
      case Stage::kPayload: {
        if (!take_payload(input)) return WsStatus::kError;
        if (payload_done_ < payload_bytes_) return WsStatus::kNeedMore;
        const WsStatus status = finish_frame();
        if (status != WsStatus::kNeedMore) return last_ = status;
        break;
      }
      case Stage::kClosed:
        consumed_ = input.size();
        return WsStatus::kNeedMore;
      case Stage::kFailed:
        return WsStatus::kError;
    }
  }
}

// 2 until the length's form is known, then the whole header.
size_t WsFrameDecoder::header_bytes_wanted() const {
  if (header_have_ < 2) return 2;
  const size_t mask = role_ == WsRole::kServer ? kMaskKeyBytes : 0;
  return 2 + extended_length_bytes() + mask;
}

// 0, 2 or 8, by byte 1's 7-bit length.
size_t WsFrameDecoder::extended_length_bytes() const {
  const uint8_t length7 = byte_of(header_[1]) & kLengthMask;
  return length7 == kLength16 ? 2 : length7 == kLength64 ? 8 : 0;
}

// Takes header bytes; each rule runs once, as soon as the bytes it needs are in.
bool WsFrameDecoder::take_header(std::string_view input) {
  size_t wanted = header_bytes_wanted();
  while (header_have_ < wanted && consumed_ < input.size()) {
    const size_t n = std::min(wanted - header_have_, input.size() - consumed_);
    std::memcpy(header_.data() + header_have_, input.data() + consumed_, n);
    const size_t before = header_have_;
    header_have_ = static_cast<uint8_t>(header_have_ + n);
    consumed_ += n;
    if (before < 1 && !check_first_byte()) return false;
    if (header_have_ >= 2) {
      if (before < 2 && !check_second_byte()) return false;
      const size_t extended = extended_length_bytes();
      if (extended > 0 && before < 2 + extended && header_have_ >= 2 + extended &&
          !check_length(load_be(header_.data() + 2, extended))) {
        return false;
      }
    }
    wanted = header_bytes_wanted();
  }
  if (header_have_ == wanted) start_payload();
  return true;
}

bool WsFrameDecoder::check_first_byte() {
  const uint8_t b = byte_of(header_[0]);
  if ((b & kReservedBitsMask) != 0) return fail(E::kReservedBits);
  if (!known_opcode(b & kOpcodeMask)) return fail(E::kUnknownOpcode);
  opcode_ = static_cast<WsOpcode>(b & kOpcodeMask);
  fin_ = (b & kFinBit) != 0;
  if (is_control(opcode_)) return fin_ || fail(E::kControlFragmented);
  if (opcode_ == WsOpcode::kContinuation)
    return message_open() || fail(E::kContinuationWithoutStart);
  return !message_open() || fail(E::kDataInsideFragmented);
}

bool WsFrameDecoder::check_second_byte() {
  const uint8_t b = byte_of(header_[1]);
  const bool masked = (b & kMaskBit) != 0;
  if (role_ == WsRole::kServer && !masked) return fail(E::kUnmasked);
  if (role_ == WsRole::kClient && masked) return fail(E::kMasked);
  const uint8_t length7 = b & kLengthMask;
  if (is_control(opcode_) && length7 > kWsControlBytesMax) return fail(E::kControlTooLong);
  if (opcode_ == WsOpcode::kClose && length7 == 1) return fail(E::kCloseOneByte);
  return length7 >= kLength16 || check_length(length7);
}

// Limits apply to the declared length, before any payload arrives.
bool WsFrameDecoder::check_length(uint64_t length) {
  if ((length & kLengthMsb) != 0) return fail(E::kLengthMsbSet);
  payload_bytes_ = length;
  if (is_control(opcode_)) return true;
  if (length > limits_.frame_bytes_max) return fail(E::kFrameTooBig);
  if (length > limits_.message_bytes_max - message_.size()) return fail(E::kMessageTooBig);
  return true;
}

void WsFrameDecoder::start_payload() {
  stage_ = Stage::kPayload;
  payload_done_ = 0;
  if (role_ == WsRole::kServer) {
    std::memcpy(mask_.data(), header_.data() + header_have_ - kMaskKeyBytes, kMaskKeyBytes);
  }
  if (is_control(opcode_)) {
    control_bytes_ = 0;
  } else if (opcode_ != WsOpcode::kContinuation) {
    message_opcode_ = opcode_;
    utf8_.reset();
  }
}

// Copies (and unmasks) what there is of the payload; text is checked as it lands.
bool WsFrameDecoder::take_payload(std::string_view input) {
  const size_t n = static_cast<size_t>(
      std::min<uint64_t>(payload_bytes_ - payload_done_, input.size() - consumed_));
  const char* src = input.data() + consumed_;
  char* dst;
  if (is_control(opcode_)) {
    dst = control_.data() + control_bytes_;
    control_bytes_ = static_cast<uint8_t>(control_bytes_ + n);
  } else {
    const size_t old_size = message_.size();
    if (old_size + n > message_.capacity()) {
      // Geometric growth, but never past what this frame declared.
      const uint64_t frame_end = old_size + (payload_bytes_ - payload_done_);
      message_.reserve(
          std::min<uint64_t>(std::max(old_size + n, 2 * message_.capacity()), frame_end));
    }
    message_.append(src, n);
    dst = message_.data() + old_size;
    src = dst;  // unmasked in place
  }
  if (role_ == WsRole::kServer) {
    apply_mask(dst, src, n, mask_, payload_done_);
  } else if (dst != src && n > 0) {
    std::memcpy(dst, src, n);
  }
  payload_done_ += n;
  consumed_ += n;
  if (message_opcode_ == WsOpcode::kText && !is_control(opcode_) &&
      !utf8_.feed(std::string_view(dst, n))) {
    return fail(E::kInvalidUtf8);
  }
  return true;
}

WsStatus WsFrameDecoder::finish_frame() {
  stage_ = Stage::kHeader;
  header_have_ = 0;
  switch (opcode_) {
    case WsOpcode::kPing:
      return WsStatus::kPing;
    case WsOpcode::kPong:
      return WsStatus::kPong;
    case WsOpcode::kClose:
      return finish_close();
    case WsOpcode::kContinuation:
    case WsOpcode::kText:
    case WsOpcode::kBinary:
      break;
  }
  if (!fin_) return WsStatus::kNeedMore;
  if (message_opcode_ == WsOpcode::kText && !utf8_.complete()) {
    fail(E::kTextEndsMidCodePoint);
    return WsStatus::kError;
  }
  delivered_opcode_ = message_opcode_;
  message_opcode_ = WsOpcode::kContinuation;
  release_pending_ = true;
  return WsStatus::kMessage;
}

WsStatus WsFrameDecoder::finish_close() {
  if (control_bytes_ >= kCloseCodeBytes) {
    const auto code = static_cast<uint16_t>(load_be(control_.data(), kCloseCodeBytes));
    const std::string_view reason(control_.data() + kCloseCodeBytes,
                                  control_bytes_ - kCloseCodeBytes);
    const WsErrorCode problem = !ws_close_code_valid(code) ? E::kBadCloseCode
                                : !utf8_valid(reason)      ? E::kInvalidCloseReason
                                                           : E::kNone;
    if (problem != E::kNone) {
      fail(problem);
      return WsStatus::kError;
    }
  }
  // Nothing counts after a close: an open fragmented message is dropped with its buffer.
  stage_ = Stage::kClosed;
  message_opcode_ = WsOpcode::kContinuation;
  release_message();
  return WsStatus::kClose;
}

size_t ws_frame_header_bytes(uint64_t payload_bytes) {
  return payload_bytes < kLength16 ? 2 : payload_bytes <= 0xffff ? 4 : 10;
}

WsFrameHeader ws_frame_header(WsOpcode opcode, uint64_t payload_bytes, bool fin) {
  WsFrameHeader h;
  h.size = static_cast<uint8_t>(put_header(h.bytes.data(), opcode, payload_bytes, fin, false));
  return h;
}

bool append_ws_frame(std::string* out, WsOpcode opcode, std::string_view payload, bool fin) {
  if (!control_frame_ok(opcode, payload.size(), fin)) return false;
  out->append(ws_frame_header(opcode, payload.size(), fin).view());
  out->append(payload);
  return true;
}

void append_ws_close(std::string* out, uint16_t code, std::string_view reason) {
  if (!ws_close_code_valid(code)) {
    append_ws_frame(out, WsOpcode::kClose, {});
    return;
  }
  size_t cut = std::min(reason.size(), kWsCloseReasonBytesMax);
  // Back off continuation bytes so the cut falls between code points.
  while (cut < reason.size() && cut > 0 && (byte_of(reason[cut]) & 0xc0) == 0x80) --cut;
  std::array<char, kWsControlBytesMax> payload;
  payload[0] = static_cast<char>(code >> 8);
  payload[1] = static_cast<char>(code & 0xff);
  // An empty reason may have no data at all: memcpy from null is undefined even for 0 bytes.
  if (cut > 0) std::memcpy(payload.data() + kCloseCodeBytes, reason.data(), cut);
  append_ws_frame(out, WsOpcode::kClose, std::string_view(payload.data(), kCloseCodeBytes + cut));
}

bool append_ws_frame_masked(std::string* out, WsOpcode opcode, std::string_view payload,
                            uint32_t mask_key, bool fin) {
  if (!control_frame_ok(opcode, payload.size(), fin)) return false;
  std::array<char, kWsHeaderBytesMax> header;
  size_t n = put_header(header.data(), opcode, payload.size(), fin, true);
  const std::array<char, 4> mask = {
      static_cast<char>(mask_key >> 24), static_cast<char>((mask_key >> 16) & 0xff),
      static_cast<char>((mask_key >> 8) & 0xff), static_cast<char>(mask_key & 0xff)};
  std::memcpy(header.data() + n, mask.data(), kMaskKeyBytes);
  n += kMaskKeyBytes;
  out->append(header.data(), n);
  const size_t start = out->size();
  out->resize(start + payload.size());
  apply_mask(out->data() + start, payload.data(), payload.size(), mask, 0);
  return true;
}

}  // namespace strata::protocol
