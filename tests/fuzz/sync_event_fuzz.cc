// libFuzzer target for the sync event codec. The input is decoded as a stream of envelopes,
// with small limits and with the defaults. Besides crashes and sanitizer reports it checks:
//  - statuses never consume past the input;
//  - every message the decoder finished encodes back to exactly its bytes (same limits; a format
//    3 batch section by section with SyncEncoder, joined by SyncBatchEncoder), and
//    decode_message() accepts those bytes and reports one callback per item (plus the one
//    section of a format 1 or 2 changes message);
//  - decode_message() on the whole input agrees with the stream (ok, trailing, truncated, or
//    the same error);
//  - feeding the bytes in pseudo-random pieces gives exactly the results of feeding them whole;
//  - sync_peek_id() reads every decoded header's sender and partition as the decoder did, and
//    still reads them from a message of a format this build does not know.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/sync_event.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/protocol/chunked_feed.h"
#include "tests/protocol/sync_harness.h"

namespace {

using strata::protocol::decode_message;
using strata::protocol::kSyncIdBytes;
using strata::protocol::sync_peek_id;
using strata::protocol::SyncEnvelopeId;
using strata::protocol::SyncError;
using strata::protocol::SyncErrorCode;
using strata::protocol::SyncHandler;
using strata::protocol::SyncHeader;
using strata::protocol::SyncLimits;
using strata::protocol::SyncRecord;
using strata::protocol::SyncSection;
using strata::protocol::SyncSeqView;
using strata::protocol::SyncStatus;
using strata::protocol::testing::decode_stream;
using strata::protocol::testing::decode_whole;
using strata::protocol::testing::Decoded;
using strata::protocol::testing::encode_decoded;
using strata::protocol::testing::LcgChunks;
using strata::protocol::testing::seed_of;

void check(bool ok) {
  if (!ok) std::abort();
}

struct CountItems : SyncHandler {
  size_t items = 0;
  size_t sections = 0;
  void on_header(const SyncHeader&) override { ++items; }
  void on_section(const SyncSection&) override { ++sections; }
  void on_record(const SyncRecord&) override { ++items; }
  void on_heartbeat(SyncSeqView) override { ++items; }
};

// Round-trips every finished message; returns what decode_message() must say about the
// whole input, judged from the stream's first message.
SyncErrorCode check_messages(std::string_view data, const std::vector<Decoded>& items,
                             const SyncLimits& limits) {
  std::optional<SyncErrorCode> verdict;
  size_t at = 0;
  size_t message_start = 0;
  size_t first = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const Decoded& d = items[i];
    check(d.consumed <= data.size() - at);
    if (d.status == SyncStatus::kHeader) {
      message_start = at;
      first = i;
      const std::optional<SyncEnvelopeId> id = sync_peek_id(data.substr(at));
      check(id.has_value() && id->format == d.header.format && id->origin == d.header.origin &&
            id->epoch == d.header.epoch && id->sender == d.header.sender &&
            id->partition == d.header.partition);
    }
    at += d.consumed;
    if (d.status == SyncStatus::kError) {
      check(!d.message.empty() && d.error != SyncErrorCode::kNone);
      if (d.error == SyncErrorCode::kUnknownFormat && data.size() - at >= kSyncIdBytes) {
        check(sync_peek_id(data.substr(at)).has_value());
      }
      if (!verdict) verdict = d.error;
    }
    if (d.status == SyncStatus::kNeedMore && !verdict) verdict = SyncErrorCode::kTruncated;
    if (d.status != SyncStatus::kDone) continue;
    const std::string_view bytes = data.substr(message_start, at - message_start);
    const std::optional<std::string> again =
        encode_decoded(std::span(items).subspan(first, i - first), limits);
    check(again.has_value() && *again == bytes);
    CountItems count;
    check(decode_message(bytes, limits, count).ok());
    // Format 3's sections are items of their own; a format 1 or 2 changes message is one.
    const SyncHeader& h = items[first].header;
    const bool one_section = h.kind == strata::protocol::SyncKind::kChanges && h.format < 3;
    size_t sections = one_section ? 1 : 0;
    for (size_t k = first; k < i; ++k) sections += items[k].status == SyncStatus::kSection;
    check(count.items + (one_section ? 0 : count.sections) == i - first &&
          count.sections == sections);
    if (!verdict)
      verdict = at == data.size() ? SyncErrorCode::kNone : SyncErrorCode::kTrailingBytes;
  }
  return verdict.value_or(SyncErrorCode::kTruncated);  // empty input
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  const SyncLimits tiny{.message_bytes_max = 256,
                        .records_max = 4,
                        .key_bytes_max = 16,
                        .value_bytes_max = 32,
                        .partitions_max = 8,
                        .sections_max = 4};
  for (const SyncLimits& limits : {tiny, SyncLimits{}}) {
    const std::vector<Decoded> whole = decode_whole(data, limits);
    const SyncErrorCode verdict = check_messages(data, whole, limits);
    CountItems ignored;
    const SyncError error = decode_message(data, limits, ignored);
    check(error.code == verdict && (error.ok() || !error.message.empty()));
    check(decode_stream(data, LcgChunks{size, seed_of(data)}, limits) == whole);
  }
  return 0;
}
