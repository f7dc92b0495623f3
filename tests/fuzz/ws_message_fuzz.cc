// libFuzzer target for the WebSocket channel's messages (protocol/ws_message). The input is a
// client message. Besides crashes and sanitizer reports it checks:
//  - a message that parses holds what its fields allow (ids and ops in 1..2^53-1, sizes under
//    their caps, exactly one of key/prefix for a subscription);
//  - strata's own messages composed from what was parsed (a change, a snapshot, an ack, a nack,
//    an error naming the parse error) are valid JSON objects whose fields read back to the
//    bytes given, including keys and values that are not UTF-8 (sent as base64);
//  - parsing never depends on bytes past the message (the same text with trailing bytes after
//    a copy gives the same answer).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "protocol/utf8.h"
#include "protocol/ws_message.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace strata::protocol;
using nlohmann::json;

constexpr size_t kValueMax = 4096;

using strata::protocol::testing::check;

std::string decode_b64(const std::string& s) {
  // Only to check our own encoding: the inverse of EVP_EncodeBlock, written plainly.
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    const size_t v = kAlphabet.find(c);
    check(v != std::string::npos, "base64 alphabet");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// The bytes a composed object holds under `name` (text) or `name64` (base64).
std::string bytes_of(const json& o, const std::string& name) {
  if (o.contains(name)) return o.at(name).get<std::string>();
  check(o.contains(name + "64"), "bytes member present");
  return decode_b64(o.at(name + "64").get<std::string>());
}

json parsed(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  check(!j.is_discarded() && j.is_object(), "composed message is a JSON object");
  return j;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  WsClientMessage m;
  const auto err = parse_ws_client_message(text, kValueMax, &m);
  // Trailing bytes beyond the view change nothing.
  std::string padded = text + "}]\"";
  WsClientMessage m2;
  const auto err2 = parse_ws_client_message(std::string_view(padded).substr(0, text.size()),
                                            kValueMax, &m2);
  check(err.has_value() == err2.has_value(), "same answer with bytes after the message");
  if (err) {
    check(!err->message.empty() && err->code == "invalid", "an error says why");
    const json e = parsed(compose_ws_error(err->code, err->message, err->id));
    check(e.at("message").get<std::string>() == err->message, "error message round trip");
    if (err->op != 0) parsed(compose_ws_nack(err->op, "invalid", err->message));
    return 0;
  }
  check(m.key.size() <= kWsKeyBytesMax && m.value.size() <= kValueMax, "sizes capped");
  check(m.id >= 0 && m.id <= kWsNumberMax && m.op >= 0 && m.op <= kWsNumberMax, "numbers");
  switch (m.type) {
    case WsClientType::kSub:
      check(m.id >= 1, "sub has an id");
      break;
    case WsClientType::kSet:
    case WsClientType::kDel:
    case WsClientType::kAppend:
      check(m.op >= 1 && !m.key.empty(), "write has an op and a key");
      break;
    default:
      break;
  }
  // strata's answers built from these bytes (any bytes: keys and values need not be UTF-8).
  const json c = parsed(compose_ws_change(m.key, m.type == WsClientType::kDel, m.value, 7, "ab.1"));
  check(bytes_of(c, "k") == m.key, "change key round trip");
  if (m.type != WsClientType::kDel) check(bytes_of(c, "v") == m.value, "change value round trip");
  const json merged = parsed(ws_change_merged(compose_ws_change(m.key, false, m.value, 7, "a.1")));
  check(merged.at("merged").get<bool>(), "merged mark");
  const json s = parsed(compose_ws_snap(m.id, {{m.key, m.value, 3}, {m.value, m.key, 4}}, true, false));
  check(s.at("items").size() == 2 && bytes_of(s.at("items")[0], "k") == m.key &&
            bytes_of(s.at("items")[1], "v") == m.key,
        "snapshot round trip");
  const json a = parsed(compose_ws_ack(m.op, 9, "a.2", m.key, 5));
  check(m.key.empty() ? !a.contains("key") : bytes_of(a, "key") == m.key, "ack key round trip");
  const json n = parsed(compose_ws_nack(m.op, "conflict", "x", 3, &m.value));
  check(bytes_of(n, "v") == m.value, "nack value round trip");
  check(utf8_valid(m.token) && utf8_valid(m.since), "parsed strings are UTF-8");
  return 0;
}
