// The WebSocket channel's messages (docs/websocket.md): one JSON object per text frame.
// Parsing a client message and composing strata's answers, pure: JSON text in, a struct out,
// and back. JSON itself is nlohmann::json's (Debian's nlohmann-json3-dev); this file decides
// what a message must hold, with a static error text per rule, and caps every size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::protocol {

// A key, prefix, stream or position at most this long; a message nested at most this deep (a
// message is one flat object; the cap is checked before the JSON is parsed).
constexpr size_t kWsKeyBytesMax = 16 * 1024;
constexpr size_t kWsTokenBytesMax = 8 * 1024;
constexpr size_t kWsNestingMax = 4;
// A client's own numbers (subscription ids, operation ids): 1 .. 2^53 - 1 (a JavaScript number).
constexpr int64_t kWsNumberMax = (int64_t{1} << 53) - 1;

enum class WsClientType : uint8_t { kAuth, kSub, kUnsub, kSet, kDel, kAppend, kPing };

struct WsClientMessage {
  WsClientType type = WsClientType::kPing;
  int64_t id = 0;         // sub, unsub: the client's subscription id
  int64_t op = 0;         // set, del, append: the client's operation number
  std::string key;        // sub (with is_prefix: the prefix), set, del; append: the stream
  bool is_prefix = false;
  std::string value;      // set, append (from "v", or "v64" decoded)
  std::string token;      // auth
  std::string since;      // sub: a position, or empty
  std::optional<uint64_t> expected_version;  // set, del: "ver" ("0": the key must be absent)
  uint64_t ttl_ms = 0;    // set: 0 none
};

struct WsMessageError {
  std::string_view code;  // "invalid"
  std::string message;    // says which field and why
  int64_t op = 0;         // the operation number, when the message had a valid one
  int64_t id = 0;         // the subscription id, likewise
};

// Parses one text message. value_bytes_max caps "v" (after base64 decoding for "v64").
// Returns the error instead when the message is not one of the documented ones.
std::optional<WsMessageError> parse_ws_client_message(std::string_view text,
                                                      size_t value_bytes_max,
                                                      WsClientMessage* out);

// ---- composing strata's messages (JSON text, no frame header) ----

// A value or key as JSON members: "<name>":"text" when it is valid UTF-8, else
// "<name>64":"base64". Appends `,"name":...` to *out (without the comma when !comma).
void append_ws_bytes_member(std::string* out, std::string_view name, std::string_view bytes,
                            bool comma = true);
// A JSON string literal (quotes included) of UTF-8 text.
void append_ws_json_string(std::string* out, std::string_view utf8);

// {"t":"c","k":...,"op":"set"|"del","v":...,"ver":"...","pos":"..."}
std::string compose_ws_change(std::string_view key, bool is_delete, std::string_view value,
                              uint64_t version, std::string_view position);
// The same change marked "merged":true (the text of compose_ws_change as input).
std::string ws_change_merged(std::string_view change_json);

struct WsHello {
  std::string_view instance;
  std::string_view epoch;
  std::string_view position;
  const std::string* subject = nullptr;  // null: no token
  int64_t exp_s = 0;                     // 0: none
  const std::vector<std::string>* read = nullptr;
  const std::vector<std::string>* write = nullptr;
};
std::string compose_ws_hello(const WsHello& h);
std::string compose_ws_subscribed(int64_t id, std::string_view position, bool resumed);

struct WsSnapItem {
  std::string key;
  std::string value;
  uint64_t version = 0;
};
std::string compose_ws_snap(int64_t id, const std::vector<WsSnapItem>& items, bool last,
                            bool truncated);
std::string compose_ws_ack(int64_t op, uint64_t version, std::string_view position,
                           std::string_view append_key, uint64_t append_position);
// reason: conflict, denied, invalid, rate_limited, unavailable, error. With `conflict`, the
// current version and value (null: absent).
std::string compose_ws_nack(int64_t op, std::string_view reason, std::string_view message,
                            std::optional<uint64_t> current_version = std::nullopt,
                            const std::string* current_value = nullptr);
std::string compose_ws_unsubscribed(int64_t id);
std::string compose_ws_error(std::string_view code, std::string_view message, int64_t id = 0);
std::string compose_ws_pong();

}  // namespace strata::protocol
