#include "protocol/ws_message.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "protocol/base64.h"
#include "protocol/utf8.h"

namespace strata::protocol {
namespace {

using nlohmann::json;

// Deepest nesting of [ and { outside strings; stops counting past `cap`.
size_t nesting(std::string_view s, size_t cap) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
      if (deepest > cap) return deepest;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

void append_u64_string(std::string* out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out->push_back('"');
  out->append(buf, end);
  out->push_back('"');
}

void append_i64(std::string* out, int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, end);
}

WsMessageError fail(std::string message, const WsClientMessage& m) {
  return WsMessageError{"invalid", std::move(message), m.op, m.id};
}

// A client number: an integer in 1..kWsNumberMax.
bool client_number(const json& o, const char* name, int64_t* out) {
  auto it = o.find(name);
  if (it == o.end() || !it->is_number_integer()) return false;
  const int64_t v = it->get<int64_t>();
  if (v < 1 || v > kWsNumberMax) return false;
  *out = v;
  return true;
}

// A string member of at most max bytes: absent -> nullopt, wrong type or too long -> error.
enum class Text { kAbsent, kOk, kBad };
Text text_member(const json& o, const char* name, size_t max, std::string* out) {
  auto it = o.find(name);
  if (it == o.end()) return Text::kAbsent;
  if (!it->is_string()) return Text::kBad;
  const std::string& s = it->get_ref<const std::string&>();
  if (s.size() > max) return Text::kBad;
  *out = s;
  return Text::kOk;
}

bool parse_u64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::optional<WsMessageError> parse_ws_client_message(std::string_view text,
                                                      size_t value_bytes_max,
                                                      WsClientMessage* out) {
  WsClientMessage& m = *out;
  m = WsClientMessage{};
  if (nesting(text, kWsNestingMax) > kWsNestingMax) {
    return fail("message nested too deeply (a message is one flat JSON object)", m);
  }
  const json o = json::parse(text, nullptr, false);
  if (o.is_discarded()) return fail("message is not valid JSON", m);
  if (!o.is_object()) return fail("message is not a JSON object", m);
  auto t = o.find("t");
  if (t == o.end() || !t->is_string()) return fail("message has no type (\"t\")", m);
  const std::string& type = t->get_ref<const std::string&>();
  // Numbers first: an error about another field still names the operation it concerns.
  client_number(o, "op", &m.op);
  client_number(o, "id", &m.id);

  if (type == "ping") {
    m.type = WsClientType::kPing;
    return std::nullopt;
  }
  if (type == "auth") {
    m.type = WsClientType::kAuth;
    if (text_member(o, "token", kWsTokenBytesMax, &m.token) != Text::kOk || m.token.empty()) {
      return fail("auth needs \"token\": a non-empty string of at most 8192 bytes", m);
    }
    return std::nullopt;
  }
  if (type == "sub" || type == "unsub") {
    m.type = type == "sub" ? WsClientType::kSub : WsClientType::kUnsub;
    if (!client_number(o, "id", &m.id)) {
      return fail(type + " needs \"id\": an integer in 1..2^53-1", m);
    }
    if (m.type == WsClientType::kUnsub) return std::nullopt;
    const Text k = text_member(o, "key", kWsKeyBytesMax, &m.key);
    std::string prefix;
    const Text p = text_member(o, "prefix", kWsKeyBytesMax, &prefix);
    if (k == Text::kBad || p == Text::kBad || (k == Text::kOk) == (p == Text::kOk)) {
      return fail("sub needs exactly one of \"key\" or \"prefix\": a string of at most 16384 bytes",
                  m);
    }
    if (p == Text::kOk) {
      m.key = std::move(prefix);
      m.is_prefix = true;
    }
    if (text_member(o, "since", kWsKeyBytesMax, &m.since) == Text::kBad) {
      return fail("sub: \"since\" must be a position string", m);
    }
    return std::nullopt;
  }
  if (type == "set" || type == "del" || type == "append") {
    m.type = type == "set" ? WsClientType::kSet : type == "del" ? WsClientType::kDel
                                                                : WsClientType::kAppend;
    if (!client_number(o, "op", &m.op)) {
      return fail(type + " needs \"op\": an integer in 1..2^53-1", m);
    }
    const char* key_name = m.type == WsClientType::kAppend ? "stream" : "key";
    if (text_member(o, key_name, kWsKeyBytesMax, &m.key) != Text::kOk || m.key.empty()) {
      return fail(type + " needs \"" + key_name +
                      "\": a non-empty string of at most 16384 bytes",
                  m);
    }
    if (m.type != WsClientType::kDel) {
      std::string b64;
      const Text v = text_member(o, "v", value_bytes_max, &m.value);
      const Text v64 = text_member(o, "v64", value_bytes_max / 3 * 4 + 4, &b64);
      if (v == Text::kBad || v64 == Text::kBad || (v == Text::kOk) == (v64 == Text::kOk)) {
        return fail(type + " needs exactly one of \"v\" (a string) or \"v64\" (base64), of at most " +
                        std::to_string(value_bytes_max) + " bytes",
                    m);
      }
      if (v64 == Text::kOk) {
        std::optional<std::string> bytes = base64_decode(b64);
        if (!bytes || bytes->size() > value_bytes_max) {
          return fail(type + ": \"v64\" is not valid base64 of at most " +
                          std::to_string(value_bytes_max) + " bytes",
                      m);
        }
        m.value = std::move(*bytes);
      }
    }
    if (m.type != WsClientType::kAppend) {
      std::string ver;
      const Text v = text_member(o, "ver", 20, &ver);
      uint64_t expected = 0;
      if (v == Text::kBad || (v == Text::kOk && !parse_u64(ver, &expected))) {
        return fail(type + ": \"ver\" must be a version string of digits", m);
      }
      if (v == Text::kOk) m.expected_version = expected;
    }
    if (m.type == WsClientType::kSet) {
      auto ttl = o.find("ttl_ms");
      if (ttl != o.end()) {
        if (!ttl->is_number_unsigned() || ttl->get<uint64_t>() == 0 ||
            ttl->get<uint64_t>() > (uint64_t{1} << 48)) {
          return fail("set: \"ttl_ms\" must be a positive integer of milliseconds", m);
        }
        m.ttl_ms = ttl->get<uint64_t>();
      }
    }
    return std::nullopt;
  }
  return fail("unknown message type (known: auth, sub, unsub, set, del, append, ping)", m);
}

void append_ws_json_string(std::string* out, std::string_view utf8) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char ch : utf8) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

void append_ws_bytes_member(std::string* out, std::string_view name, std::string_view bytes,
                            bool comma) {
  out->append(comma ? ",\"" : "\"");
  out->append(name);
  if (utf8_valid(bytes)) {
    out->append("\":");
    append_ws_json_string(out, bytes);
  } else {
    out->append("64\":\"");
    append_base64(out, bytes);
    out->push_back('"');
  }
}

std::string compose_ws_change(std::string_view key, bool is_delete, std::string_view value,
                              uint64_t version, std::string_view position) {
  std::string out;
  out.reserve(key.size() + value.size() + 80);
  out.append("{\"t\":\"c\"");
  append_ws_bytes_member(&out, "k", key);
  out.append(is_delete ? ",\"op\":\"del\"" : ",\"op\":\"set\"");
  if (!is_delete) append_ws_bytes_member(&out, "v", value);
  out.append(",\"ver\":");
  append_u64_string(&out, version);
  out.append(",\"pos\":");
  append_ws_json_string(&out, position);
  out.push_back('}');
  return out;
}

std::string ws_change_merged(std::string_view change_json) {
  std::string out(change_json.substr(0, change_json.size() - 1));
  out.append(",\"merged\":true}");
  return out;
}

namespace {
void append_prefix_list(std::string* out, const std::vector<std::string>* list) {
  out->push_back('[');
  if (list != nullptr) {
    for (size_t i = 0; i < list->size(); ++i) {
      if (i > 0) out->push_back(',');
      append_ws_json_string(out, (*list)[i]);
    }
  }
  out->push_back(']');
}
}  // namespace

std::string compose_ws_hello(const WsHello& h) {
  std::string out = "{\"t\":\"hello\",\"instance\":";
  append_ws_json_string(&out, h.instance);
  out.append(",\"epoch\":");
  append_ws_json_string(&out, h.epoch);
  out.append(",\"pos\":");
  append_ws_json_string(&out, h.position);
  out.append(",\"sub\":");
  if (h.subject != nullptr) {
    append_ws_json_string(&out, *h.subject);
  } else {
    out.append("null");
  }
  out.append(",\"exp\":");
  if (h.exp_s != 0) {
    append_i64(&out, h.exp_s);
  } else {
    out.append("null");
  }
  out.append(",\"read\":");
  append_prefix_list(&out, h.read);
  out.append(",\"write\":");
  append_prefix_list(&out, h.write);
  out.push_back('}');
  return out;
}

std::string compose_ws_subscribed(int64_t id, std::string_view position, bool resumed) {
  std::string out = "{\"t\":\"subscribed\",\"id\":";
  append_i64(&out, id);
  out.append(",\"pos\":");
  append_ws_json_string(&out, position);
  out.append(resumed ? ",\"resumed\":true}" : ",\"resumed\":false}");
  return out;
}

std::string compose_ws_snap(int64_t id, const std::vector<WsSnapItem>& items, bool last,
                            bool truncated) {
  std::string out = "{\"t\":\"snap\",\"id\":";
  append_i64(&out, id);
  out.append(",\"items\":[");
  for (size_t i = 0; i < items.size(); ++i) {
    const WsSnapItem& it = items[i];
    out.append(i == 0 ? "{" : ",{");
    append_ws_bytes_member(&out, "k", it.key, false);
    append_ws_bytes_member(&out, "v", it.value);
    out.append(",\"ver\":");
    append_u64_string(&out, it.version);
    out.push_back('}');
  }
  out.append("],\"last\":");
  out.append(last ? "true" : "false");
  out.append(",\"truncated\":");
  out.append(truncated ? "true}" : "false}");
  return out;
}

std::string compose_ws_ack(int64_t op, uint64_t version, std::string_view position,
                           std::string_view append_key, uint64_t append_position) {
  std::string out = "{\"t\":\"ack\",\"op\":";
  append_i64(&out, op);
  out.append(",\"ver\":");
  append_u64_string(&out, version);
  out.append(",\"pos\":");
  append_ws_json_string(&out, position);
  if (!append_key.empty()) {
    append_ws_bytes_member(&out, "key", append_key);
    out.append(",\"position\":");
    append_u64_string(&out, append_position);
  }
  out.push_back('}');
  return out;
}

std::string compose_ws_nack(int64_t op, std::string_view reason, std::string_view message,
                            std::optional<uint64_t> current_version,
                            const std::string* current_value) {
  std::string out = "{\"t\":\"nack\",\"op\":";
  append_i64(&out, op);
  out.append(",\"reason\":");
  append_ws_json_string(&out, reason);
  out.append(",\"message\":");
  append_ws_json_string(&out, message);
  if (current_version) {
    out.append(",\"ver\":");
    append_u64_string(&out, *current_version);
    if (current_value != nullptr) {
      append_ws_bytes_member(&out, "v", *current_value);
    } else {
      out.append(",\"v\":null");
    }
  }
  out.push_back('}');
  return out;
}

std::string compose_ws_unsubscribed(int64_t id) {
  std::string out = "{\"t\":\"unsubscribed\",\"id\":";
  append_i64(&out, id);
  out.push_back('}');
  return out;
}

std::string compose_ws_error(std::string_view code, std::string_view message, int64_t id) {
  std::string out = "{\"t\":\"error\",\"code\":";
  append_ws_json_string(&out, code);
  out.append(",\"message\":");
  append_ws_json_string(&out, message);
  if (id != 0) {
    out.append(",\"id\":");
    append_i64(&out, id);
  }
  out.push_back('}');
  return out;
}

std::string compose_ws_pong() { return "{\"t\":\"pong\"}"; }

}  // namespace strata::protocol
