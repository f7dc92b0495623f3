#include "protocol/reply_shape.h"

#include <strings.h>

#include <algorithm>
#include <vector>

#include "protocol/resp_numbers.h"

namespace strata::protocol {
namespace {

constexpr ReplyShapeRow kRows[] = {
#include "protocol/reply_shapes_table.inc"
};

constexpr const char* kKeep = ".";

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Case-insensitive order of a command name against a (lower-case) table name.
int compare_name(std::string_view arg, std::string_view name) {
  const size_t n = std::min(arg.size(), name.size());
  for (size_t i = 0; i < n; ++i) {
    const int a = arg[i] >= 'A' && arg[i] <= 'Z' ? arg[i] - 'A' + 'a' : arg[i];
    if (a != name[i]) return a < name[i] ? -1 : 1;
  }
  return arg.size() == name.size() ? 0 : (arg.size() < name.size() ? -1 : 1);
}

bool row_matches(const ReplyShapeRow& r, std::span<const std::string_view> args) {
  if (!r.subcommand.empty() && (args.size() < 2 || !iequal(args[1], r.subcommand))) return false;
  if (args.size() < r.argc_min) return false;
  if (r.token.empty()) return true;
  // After the command's first argument (a key, or the subcommand's first): no option sits there.
  for (size_t i = r.subcommand.empty() ? 2 : 3; i < args.size(); ++i) {
    if (iequal(args[i], r.token)) return true;
  }
  return false;
}

// The end of the shape starting at p (one past its last byte), or null when malformed.
const char* skip_shape(const char* p) {
  switch (*p) {
    case '.':
    case 'd':
    case 'b':
    case 'v':
    case 'n':
      return p + 1;
    case 'A':
    case 'S':
      return skip_shape(p + 1);
    case 'M':
    case 'P':
    case 'K': {
      const char* k = skip_shape(p + 1);
      return k == nullptr ? nullptr : skip_shape(k);
    }
    case '(':
      for (++p; *p != ')';) {
        if (*p == '\0' || (p = skip_shape(p)) == nullptr) return nullptr;
      }
      return skip_shape(p + 1);
    case '{':
      for (++p; *p == '\'';) {
        const char* close = p + 1;
        while (*close != '\'' && *close != '\0') ++close;
        if (*close == '\0' || (p = skip_shape(close + 1)) == nullptr) return nullptr;
      }
      if (*p != '*' || (p = skip_shape(p + 1)) == nullptr || *p != '}') return nullptr;
      return p + 1;
    case 'U': {
      if (p[1] < '1' || p[1] > '3') return nullptr;
      const int ops = p[1] - '0';
      p += 2;
      for (int i = 0; i < ops && p != nullptr; ++i) p = skip_shape(p);
      return p;
    }
    default:
      return nullptr;
  }
}

bool is_array_op(char c) { return c == 'A' || c == 'S' || c == 'M' || c == 'P' || c == 'K' ||
                                  c == '(' || c == '{'; }

// The operation of a shape for a node that arrived as RESP2 type t ('$', ':' or '*'): the
// shape itself, the matching member of a union, or "." when none applies to that type.
const char* op_for(const char* shape, char t) {
  if (shape[0] != 'U') {
    const char c = shape[0];
    const bool fits = (t == '$' && (c == 'd' || c == 'v' || c == 'n')) ||
                      (t == ':' && c == 'b') || (t == '*' && is_array_op(c));
    return fits ? shape : kKeep;
  }
  const char* p = shape + 2;
  for (int i = 0; i < shape[1] - '0' && p != nullptr; ++i) {
    if (op_for(p, t) != kKeep) return p;
    p = skip_shape(p);
  }
  return kKeep;
}

class Converter {
 public:
  Converter(std::string_view in, std::string* out) : in_(in), out_(out) {}

  bool done() const { return pos_ == in_.size(); }

  // Converts the node at pos_ under `shape`.
  bool node(const char* shape, size_t depth) {
    if (depth > kReplyShapeDepthMax) return false;
    char t;
    std::string_view text;
    if (!header(&t, &text)) return false;
    if (t == '+' || t == '-') return copy_line(t, text);
    if (t == ':') {
      const char* op = op_for(shape, t);
      if (*op == 'b' && (text == "0" || text == "1")) {
        out_->append(text == "1" ? "#t\r\n" : "#f\r\n");
        return true;
      }
      return copy_line(t, text);
    }
    int64_t n = 0;
    if (!detail::string_to_ll(text, &n) || n < -1) return false;
    if (n == -1) {
      out_->append("_\r\n");
      return true;
    }
    if (t == '$') return bulk(op_for(shape, t), static_cast<size_t>(n));
    if (t != '*') return false;
    return array(op_for(shape, t), static_cast<uint64_t>(n), depth);
  }

  // Copies the node at pos_ (nulls become _), any depth, without recursion.
  bool keep() {
    uint64_t remaining = 1;
    std::vector<uint64_t> open;  // elements left in enclosing arrays, innermost last
    while (true) {
      char t;
      std::string_view text;
      if (!header(&t, &text)) return false;
      if (t == '+' || t == '-' || t == ':') {
        copy_line(t, text);
      } else {
        int64_t n = 0;
        if ((t != '$' && t != '*') || !detail::string_to_ll(text, &n) || n < -1) return false;
        if (n == -1) {
          out_->append("_\r\n");
        } else if (t == '$') {
          if (!bulk(kKeep, static_cast<size_t>(n))) return false;
        } else {
          copy_line(t, text);
          if (n > 0) {
            open.push_back(remaining - 1);
            remaining = static_cast<uint64_t>(n);
            continue;
          }
        }
      }
      while (--remaining == 0) {
        if (open.empty()) return true;
        remaining = open.back() + 1;
        open.pop_back();
      }
    }
  }

 private:
  bool header(char* t, std::string_view* text) {
    if (pos_ >= in_.size()) return false;
    const size_t eol = in_.find("\r\n", pos_);
    if (eol == std::string_view::npos) return false;
    *t = in_[pos_];
    *text = in_.substr(pos_ + 1, eol - pos_ - 1);
    pos_ = eol + 2;
    return true;
  }

  bool copy_line(char t, std::string_view text) {
    out_->push_back(t);
    out_->append(text);
    out_->append("\r\n");
    return true;
  }

  void count_line(char t, uint64_t n) {
    char buf[24];
    char* end = buf + sizeof buf;
    char* start = detail::format_u64(n, end);
    out_->push_back(t);
    out_->append(start, static_cast<size_t>(end - start));
    out_->append("\r\n");
  }

  bool bulk(const char* op, size_t len) {
    if (in_.size() - pos_ < len + 2 || in_.compare(pos_ + len, 2, "\r\n") != 0) return false;
    const std::string_view payload = in_.substr(pos_, len);
    pos_ += len + 2;
    switch (*op) {
      case 'd':
      case 'n': {
        // A double (',') or big number ('(') line from a bulk string: only what can be one.
        // Redis sends numbers there; anything else is not converted (the caller keeps Redis's
        // bytes and counts it).
        const std::string_view allowed = *op == 'n' ? "-0123456789" : "+-.0123456789eEinfa";
        if (payload.empty() || payload.find_first_not_of(allowed) != std::string_view::npos) {
          return false;
        }
        return copy_line(*op == 'n' ? '(' : ',', payload);
      }
      case 'v':
        count_line('=', len + 4);
        out_->append("txt:");
        break;
      default:
        count_line('$', len);
        break;
    }
    out_->append(payload);
    out_->append("\r\n");
    return true;
  }

  bool array(const char* op, uint64_t n, size_t depth) {
    const char c = *op;
    if (c == '.') {
      count_line('*', n);
      for (uint64_t i = 0; i < n; ++i) {
        if (!keep()) return false;
      }
      return true;
    }
    if (c == 'A' || c == 'S') {
      count_line(c == 'A' ? '*' : '~', n);
      for (uint64_t i = 0; i < n; ++i) {
        if (!node(op + 1, depth + 1)) return false;
      }
      return true;
    }
    if (c == 'M' || c == 'P') {
      if (n % 2 != 0) return false;
      const char* value = skip_shape(op + 1);
      if (value == nullptr) return false;
      count_line(c == 'M' ? '%' : '*', n / 2);
      for (uint64_t i = 0; i < n / 2; ++i) {
        if (c == 'P') out_->append("*2\r\n");
        if (!node(op + 1, depth + 1) || !node(value, depth + 1)) return false;
      }
      return true;
    }
    if (c == 'K') return pair_map(op, n, depth);
    if (c == '(') return tuple(op, n, depth);
    if (c == '{') return fields(op, n, depth);
    return false;
  }

  // K k v: n two-element arrays become a map of n.
  bool pair_map(const char* op, uint64_t n, size_t depth) {
    const char* value = skip_shape(op + 1);
    if (value == nullptr) return false;
    count_line('%', n);
    for (uint64_t i = 0; i < n; ++i) {
      char t;
      std::string_view text;
      if (!header(&t, &text) || t != '*' || text != "2") return false;
      if (!node(op + 1, depth + 1) || !node(value, depth + 1)) return false;
    }
    return true;
  }

  // ( e1 .. ek ) r: element i by e_i, the rest by r.
  bool tuple(const char* op, uint64_t n, size_t depth) {
    count_line('*', n);
    const char* p = op + 1;
    for (uint64_t i = 0; i < n; ++i) {
      const bool positional = *p != ')';
      const char* shape = p;
      if (!positional) shape = p + 1;
      if (!node(shape, depth + 1)) return false;
      if (positional && (p = skip_shape(p)) == nullptr) return false;
    }
    return true;
  }

  // { 'name' e ... * d }: a map whose values convert by their key.
  bool fields(const char* op, uint64_t n, size_t depth) {
    if (n % 2 != 0) return false;
    count_line('%', n / 2);
    for (uint64_t i = 0; i < n / 2; ++i) {
      char t;
      std::string_view key;
      if (!header(&t, &key) || t != '$') return false;
      int64_t len = 0;
      if (!detail::string_to_ll(key, &len) || len < 0) return false;
      const size_t at = pos_;
      if (!bulk(kKeep, static_cast<size_t>(len))) return false;
      const std::string_view name = in_.substr(at, static_cast<size_t>(len));
      if (!node(value_shape(op, name), depth + 1)) return false;
    }
    return true;
  }

  static const char* value_shape(const char* op, std::string_view name) {
    const char* p = op + 1;
    while (*p == '\'') {
      const char* close = p + 1;
      while (*close != '\'' && *close != '\0') ++close;
      if (*close == '\0') return kKeep;
      if (std::string_view(p + 1, static_cast<size_t>(close - p - 1)) == name) return close + 1;
      p = skip_shape(close + 1);
      if (p == nullptr) return kKeep;
    }
    return *p == '*' ? p + 1 : kKeep;
  }

  std::string_view in_;
  size_t pos_ = 0;
  std::string* out_;
};

}  // namespace

std::span<const ReplyShapeRow> reply_shape_rows() { return kRows; }

const char* reply_shape(std::span<const std::string_view> args) {
  if (args.empty()) return kKeep;
  const ReplyShapeRow* it = std::lower_bound(
      std::begin(kRows), std::end(kRows), args[0],
      [](const ReplyShapeRow& r, std::string_view a) { return compare_name(a, r.command) > 0; });
  for (; it != std::end(kRows) && compare_name(args[0], it->command) == 0; ++it) {
    if (row_matches(*it, args)) return it->program;
  }
  return kKeep;
}

bool resp2_to_resp3(std::string_view resp2, const char* program, std::string* out) {
  if (skip_shape(program) == nullptr) return false;
  Converter c(resp2, out);
  return c.node(program, 0) && c.done();
}

}  // namespace strata::protocol
