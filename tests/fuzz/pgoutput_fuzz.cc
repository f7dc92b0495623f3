// libFuzzer target for the PostgreSQL logical replication codec. The input is decoded as a
// CopyData payload (decode_repl_message, then decode_pgoutput on an XLogData's data) and as a
// bare pgoutput message, with small limits and with the defaults. Besides crashes and sanitizer
// reports it checks:
//  - an error has its code's static message and an offset inside the input;
//  - every view of a decoded message lies inside the input, and each list walks exactly size()
//    items;
//  - a decoded message encodes back (tests/protocol/pgoutput_writer.h) to exactly its bytes;
//  - decoding the same bytes again gives the same result;
//  - a decoded message cut short (its last byte off, and a few cuts picked by the input's hash)
//    is kTruncated;
//  - small limits change a verdict only by a limit's code: any other error, and any success,
//    is the defaults' verdict too;
//  - an LSN parse_lsn reads from the input formats back to text it reads as the same LSN.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "protocol/pgoutput.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/protocol/pgoutput_writer.h"

namespace {

using strata::protocol::decode_pgoutput;
using strata::protocol::decode_repl_message;
using strata::protocol::format_lsn;
using strata::protocol::parse_lsn;
using strata::protocol::pg_error;
using strata::protocol::PgError;
using strata::protocol::PgErrorCode;
using strata::protocol::PgList;
using strata::protocol::PgoutLimits;
using strata::protocol::PgoutMessage;
using strata::protocol::PgoutTag;
using strata::protocol::ReplKind;
using strata::protocol::ReplMessage;
using strata::protocol::testing::encode_pgoutput;
using strata::protocol::testing::encode_repl;
using strata::protocol::testing::seed_of;

constexpr PgoutLimits kSmall{.message_bytes_max = 512,
                             .columns_max = 4,
                             .cstring_bytes_max = 8,
                             .value_bytes_max = 16,
                             .truncate_relations_max = 4};

bool inside(std::string_view outer, std::string_view view) {
  if (view.empty()) return true;
  const std::less_equal<const char*> le;
  return le(outer.data(), view.data()) &&
         le(view.data() + view.size(), outer.data() + outer.size());
}

void check_error(const PgError& e, std::string_view input) {
  FUZZ_CHECK(e.message == pg_error(e.code).message && !e.message.empty());
  FUZZ_CHECK(e.offset <= input.size());
}

template <typename Item>
void check_list(const PgList<Item>& list, std::string_view input) {
  FUZZ_CHECK(inside(input, list.wire_bytes()));
  size_t items = 0;
  for (const Item& item : list) {
    ++items;
    if constexpr (requires { item.bytes; }) FUZZ_CHECK(inside(list.wire_bytes(), item.bytes));
    if constexpr (requires { item.name; }) FUZZ_CHECK(inside(list.wire_bytes(), item.name));
  }
  FUZZ_CHECK(items == list.size());
}

void check_views(const PgoutMessage& m, std::string_view input) {
  switch (m.tag) {
    case PgoutTag::kOrigin:
      FUZZ_CHECK(inside(input, m.origin.name));
      break;
    case PgoutTag::kRelation:
      FUZZ_CHECK(inside(input, m.relation.namespace_name) && inside(input, m.relation.name));
      check_list(m.relation.columns, input);
      break;
    case PgoutTag::kType:
      FUZZ_CHECK(inside(input, m.type.namespace_name) && inside(input, m.type.name));
      break;
    case PgoutTag::kInsert:
      check_list(m.insert.new_tuple, input);
      break;
    case PgoutTag::kUpdate:
      check_list(m.update.old_tuple, input);
      check_list(m.update.new_tuple, input);
      break;
    case PgoutTag::kDelete:
      check_list(m.del.old_tuple, input);
      break;
    case PgoutTag::kTruncate:
      FUZZ_CHECK(inside(input, m.truncate.relids.wire_bytes()));
      break;
    case PgoutTag::kMessage:
      FUZZ_CHECK(inside(input, m.message.prefix) && inside(input, m.message.content));
      break;
    case PgoutTag::kBegin:
    case PgoutTag::kCommit:
      break;
  }
}

bool is_limit(PgErrorCode code) {
  return code == PgErrorCode::kMessagePastMax || code == PgErrorCode::kColumnsPastMax ||
         code == PgErrorCode::kCstringPastMax || code == PgErrorCode::kValuePastMax ||
         code == PgErrorCode::kTruncateRelationsPastMax;
}

// A few cuts of a message that decoded: each must be kTruncated.
void check_cuts(std::string_view message, const PgoutLimits& limits) {
  const auto truncated = [&](size_t cut) {
    PgoutMessage m;
    const PgError e = decode_pgoutput(message.substr(0, cut), &m, limits);
    FUZZ_CHECK(e.code == PgErrorCode::kTruncated && e.offset <= cut);
  };
  truncated(message.size() - 1);
  uint32_t h = seed_of(message);
  for (int i = 0; i < 4; ++i, h = h * 1664525u + 1013904223u) truncated(h % message.size());
}

// Decodes `message` under `limits`; returns the verdict and the bytes it encodes back to.
PgError check_pgoutput(std::string_view message, const PgoutLimits& limits, std::string* again) {
  PgoutMessage m;
  const PgError e = decode_pgoutput(message, &m, limits);
  PgoutMessage m2;
  const PgError e2 = decode_pgoutput(message, &m2, limits);
  FUZZ_CHECK(e == e2);
  if (!e.ok()) {
    check_error(e, message);
    return e;
  }
  check_views(m, message);
  *again = encode_pgoutput(m);
  FUZZ_CHECK(*again == message);
  FUZZ_CHECK(encode_pgoutput(m2) == *again);
  check_cuts(message, limits);
  return e;
}

// The same message under small limits and the defaults.
void check_both_limits(std::string_view message) {
  std::string small_bytes;
  std::string default_bytes;
  const PgError small = check_pgoutput(message, kSmall, &small_bytes);
  const PgError defaults = check_pgoutput(message, {}, &default_bytes);
  if (!is_limit(small.code)) FUZZ_CHECK(small == defaults && small_bytes == default_bytes);
}

void check_repl(std::string_view payload) {
  ReplMessage r;
  const PgError e = decode_repl_message(payload, &r, kSmall);
  ReplMessage d;
  const PgError defaults = decode_repl_message(payload, &d);
  if (!is_limit(e.code)) FUZZ_CHECK(e == defaults);
  if (!defaults.ok()) {
    check_error(defaults, payload);
    return;
  }
  FUZZ_CHECK(encode_repl(d) == payload);
  FUZZ_CHECK(d.data.empty() || (d.kind == ReplKind::kXLogData && inside(payload, d.data)));
  if (d.kind == ReplKind::kXLogData) check_both_limits(d.data);
}

void check_lsn(std::string_view text) {
  uint64_t lsn = 0;
  if (!parse_lsn(text, &lsn)) return;
  uint64_t again = 0;
  FUZZ_CHECK(parse_lsn(format_lsn(lsn).view(), &again) && again == lsn);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  check_repl(data);
  check_both_limits(data);
  check_lsn(data);
  return 0;
}
