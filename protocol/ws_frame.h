// RFC 6455 WebSocket frames: an incremental decoder of the frames a client sends (server side;
// also the other way round, for test clients), and an encoder of the frames a server sends.
// Pure: no I/O, clocks, threads or globals; no extension is negotiated (RSV bits must be 0).
//
//   byte 0   FIN, RSV1-3, opcode (0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong)
//   byte 1   MASK, 7-bit length: 0-125, 126 = a 16-bit length follows, 127 = a 64-bit one
//            (big-endian, top bit 0; the shortest form is not required)
//   [4]      masking key, when MASK (every client frame; never a server frame)
//   payload  masked with key[i % 4] when MASK
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/utf8.h"

namespace strata::protocol {

enum class WsOpcode : uint8_t {
  kContinuation = 0,
  kText = 1,
  kBinary = 2,
  kClose = 8,
  kPing = 9,
  kPong = 10,
};

inline constexpr size_t kWsControlBytesMax = 125;      // a control frame's payload (RFC 6455 5.5)
inline constexpr size_t kWsCloseReasonBytesMax = 123;  // after the 2-byte code
inline constexpr size_t kWsServerHeaderBytesMax = 10;  // 2 + 64-bit length, no mask
inline constexpr size_t kWsHeaderBytesMax = 14;        // ... and a masking key
// What a client may send strata in one message (a subscription, a write with its value); the
// same as a sync message (kSyncMessageBytesMax), the most a change can carry between instances.
inline constexpr size_t kWsMessageBytesMax = 1024 * 1024;
inline constexpr size_t kWsFrameBytesMax = kWsMessageBytesMax;

// Close codes (RFC 6455 7.4.1 and IANA's registry).
inline constexpr uint16_t kWsCloseNormal = 1000;
inline constexpr uint16_t kWsCloseGoingAway = 1001;
inline constexpr uint16_t kWsCloseProtocolError = 1002;
inline constexpr uint16_t kWsCloseUnsupportedData = 1003;
inline constexpr uint16_t kWsCloseNoStatus = 1005;  // never sent: an empty close payload
inline constexpr uint16_t kWsCloseInvalidPayload = 1007;
inline constexpr uint16_t kWsClosePolicyViolation = 1008;
inline constexpr uint16_t kWsCloseTooBig = 1009;
inline constexpr uint16_t kWsCloseInternalError = 1011;
inline constexpr uint16_t kWsCloseTryAgainLater = 1013;

// Codes a Close frame may carry: 1000-1003, 1007-1014 (1012-1014 registered with IANA after
// RFC 6455: service restart, try again later, bad gateway), 3000-4999 (libraries, apps).
// 1004, 1005, 1006, 1015, the rest of 0-2999 and 5000 up are refused.
bool ws_close_code_valid(uint16_t code);

struct WsLimits {
  size_t frame_bytes_max = kWsFrameBytesMax;      // one data frame's payload
  size_t message_bytes_max = kWsMessageBytesMax;  // a whole message, its fragments together
};

// Why a set of limits cannot work (for start-up checks), or empty when it can.
std::string_view ws_limits_problem(const WsLimits& limits);

// Which end the decoder is: a server decodes client frames (always masked), a client server
// frames (never masked).
enum class WsRole : uint8_t { kServer, kClient };

enum class WsErrorCode : uint8_t {
  kNone,
  kReservedBits,              // 1002: RSV1-3 set, and no extension was negotiated
  kUnknownOpcode,             // 1002: 3-7 or 11-15
  kUnmasked,                  // 1002: a client frame without a mask
  kMasked,                    // 1002: a server frame with a mask (client role)
  kLengthMsbSet,              // 1002: a 64-bit length with its top bit set
  kControlTooLong,            // 1002: a control frame's payload past 125 bytes
  kControlFragmented,         // 1002: a control frame without FIN
  kContinuationWithoutStart,  // 1002: a continuation frame with no message open
  kDataInsideFragmented,      // 1002: a text or binary frame while a fragmented message is open
  kCloseOneByte,              // 1002: a close payload of one byte (a code needs two)
  kBadCloseCode,              // 1002: a close code ws_close_code_valid refuses
  kFrameTooBig,               // 1009: a data frame past frame_bytes_max
  kMessageTooBig,             // 1009: a message past message_bytes_max
  kInvalidUtf8,               // 1007: a text message that is not UTF-8
  kTextEndsMidCodePoint,      // 1007: a text message whose last frame ends inside a code point
  kInvalidCloseReason,        // 1007: a close reason that is not UTF-8
};

// A code, the close code to answer with and a static message: copying one never allocates.
struct WsError {
  WsErrorCode code = WsErrorCode::kNone;
  uint16_t close_code = 0;
  std::string_view message;
  bool ok() const { return code == WsErrorCode::kNone; }
};
WsError ws_error(WsErrorCode code);

enum class WsStatus : uint8_t {
  kNeedMore,  // every byte given was consumed; the decoder keeps what it needs
  kMessage,   // a whole message: event().opcode (text or binary), event().payload
  kPing,      // event().payload (0-125 bytes): answer with a pong carrying it
  kPong,      // event().payload
  kClose,     // event().close_code (kWsCloseNoStatus for an empty payload), close_reason
  kError,     // error(): send a close with error().close_code and drop the connection
};

// What the last feed() reported. The views are valid until the next feed() or reset().
struct WsEvent {
  WsOpcode opcode = WsOpcode::kContinuation;  // kMessage: kText or kBinary
  std::string_view payload;                   // kMessage, kPing, kPong
  uint16_t close_code = 0;                    // kClose
  std::string_view close_reason;              // kClose: valid UTF-8, 0-123 bytes
};

// Usage: feed every byte as it arrives, in any split, then let go of it: the decoder copies
// what it must keep (a partial header, an unmasked payload), so the connection needs no read
// buffer of its own. Each feed() consumes bytes up to the end of the next event or all of
// them; call it again with the rest until kNeedMore:
//   for (std::string_view in = bytes;; in.remove_prefix(d.consumed())) {
//     WsStatus s = d.feed(in);  ... handle s ...  if (s == kNeedMore || s == kError) break;
//   }
// Every rule is checked on the byte that breaks it (header rules as the header arrives,
// limits on the length field, UTF-8 on each payload byte as it is unmasked, so a bad text
// message fails on its first bad byte, even mid-frame), in an order that depends only on the
// bytes: any split of the input gives the same events.
// Memory: sizeof(WsFrameDecoder) (see the README) and, only while a data message is
// incomplete, its bytes so far (grown as they arrive, at most twice what arrived and never
// past what the frame declared). Once the loop above ends on kNeedMore with no message open,
// the decoder holds no heap memory: a message's buffer is freed at the feed() after the one
// that reported it. A message of 15 bytes or less never allocates (the string's inline
// buffer); control frames never do (a 125-byte array).
// After kClose the decoder consumes and drops whatever follows (the client may send nothing
// after its close); after kError every feed() returns kError until reset().
class WsFrameDecoder {
 public:
  explicit WsFrameDecoder(WsLimits limits = {}, WsRole role = WsRole::kServer);

  WsStatus feed(std::string_view input);

  size_t consumed() const { return consumed_; }
  WsEvent event() const;
  WsError error() const { return ws_error(error_); }
  // Bytes kept of an incomplete data message (its fragments so far, unmasked).
  size_t buffered_bytes() const { return message_.size(); }
  // Heap bytes the decoder holds (0 when its message buffer is inline or empty).
  size_t heap_bytes() const;
  // A fragmented message is open (its first frame came, its last not yet).
  bool message_open() const { return message_opcode_ != WsOpcode::kContinuation; }
  bool closed() const { return stage_ == Stage::kClosed; }
  // Between frames with no message open: nothing of the peer's is held.
  bool idle() const { return stage_ == Stage::kHeader && header_have_ == 0 && !message_open(); }
  void reset();

 private:
  enum class Stage : uint8_t {
    kHeader,   // reading a frame header into header_
    kPayload,  // reading a frame's payload into message_ or control_
    kClosed,   // a close frame came: everything after it is dropped
    kFailed,   // error_ says why
  };

  bool take_header(std::string_view input);
  bool check_first_byte();
  bool check_second_byte();
  bool check_length(uint64_t length);
  size_t header_bytes_wanted() const;
  size_t extended_length_bytes() const;
  void start_payload();
  bool take_payload(std::string_view input);
  WsStatus finish_frame();
  WsStatus finish_close();
  bool fail(WsErrorCode code);
  void release_message();

  WsLimits limits_;
  std::string message_;         // the open data message, unmasked
  uint64_t payload_bytes_ = 0;  // this frame's payload length
  uint64_t payload_done_ = 0;   // ... and how much of it has come
  size_t consumed_ = 0;
  Utf8Validator utf8_;  // the open text message's bytes so far
  Stage stage_ = Stage::kHeader;
  WsRole role_;
  WsStatus last_ = WsStatus::kNeedMore;
  WsErrorCode error_ = WsErrorCode::kNone;
  WsOpcode opcode_ = WsOpcode::kContinuation;            // this frame's
  WsOpcode message_opcode_ = WsOpcode::kContinuation;    // the open message's; kContinuation: none
  WsOpcode delivered_opcode_ = WsOpcode::kContinuation;  // the message last reported
  bool fin_ = false;
  bool release_pending_ = false;  // message_ was reported: free it at the next feed()
  uint8_t header_have_ = 0;
  uint8_t control_bytes_ = 0;
  std::array<char, kWsHeaderBytesMax> header_{};
  std::array<char, 4> mask_{};
  std::array<char, kWsControlBytesMax> control_{};
};

// The header of a server frame (unmasked) for a payload of `payload_bytes`.
struct WsFrameHeader {
  std::array<char, kWsServerHeaderBytesMax> bytes{};
  uint8_t size = 0;
  std::string_view view() const { return {bytes.data(), size}; }
};

// 2, 4 or 10: the header bytes of a server frame carrying `payload_bytes`.
size_t ws_frame_header_bytes(uint64_t payload_bytes);
WsFrameHeader ws_frame_header(WsOpcode opcode, uint64_t payload_bytes, bool fin = true);

// Encode once, share the bytes: a server frame is a function of (opcode, fin, payload) alone
// (no mask, nothing per connection), so one change sent to 10k subscribers is framed once and
// the same bytes go on every connection's send chain. To frame without copying the payload,
// reserve kWsServerHeaderBytesMax bytes in front of where the payload is serialized, then
// write ws_frame_header(...).view() so it ends where the payload starts.

// Appends one server frame (unmasked, 7/16/64-bit length). Appends nothing and returns false
// for what no decoder may accept: a control frame (close, ping, pong) with a payload past 125
// bytes or without FIN.
bool append_ws_frame(std::string* out, WsOpcode opcode, std::string_view payload, bool fin = true);
// Appends a close frame: the code, then `reason` (UTF-8) cut to 123 bytes on a code point
// boundary. kWsCloseNoStatus, or any code ws_close_code_valid refuses, gives an empty payload.
void append_ws_close(std::string* out, uint16_t code, std::string_view reason = {});
// Appends a masked frame as a client sends it (tests, test clients, the load generator). The
// key is written big-endian: its top byte masks payload byte 0.
bool append_ws_frame_masked(std::string* out, WsOpcode opcode, std::string_view payload,
                            uint32_t mask_key, bool fin = true);

}  // namespace strata::protocol
