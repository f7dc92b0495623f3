// Test helpers for the sync event codec, shared by the unit tests and the fuzz target: drive a
// SyncDecoder over a byte stream delivered in chunks (the way a connection would), keep what
// it reported as owned values, and encode messages back from them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/sync_event.h"
#include "tests/protocol/chunked_feed.h"

namespace strata::protocol::testing {

// A SyncRecord that owns its bytes.
struct OwnedRecord {
  SyncOp op = SyncOp::kInvalidate;
  uint64_t version = 0;
  std::optional<int64_t> expire_at_ms;
  std::string key;
  std::optional<std::string> value;
  bool operator==(const OwnedRecord&) const = default;

  static OwnedRecord from(const SyncRecord& r) {
    OwnedRecord o{r.op, r.version, r.expire_at_ms, std::string(r.key), std::nullopt};
    if (r.value) o.value.emplace(*r.value);
    return o;
  }
  SyncRecord view() const {
    SyncRecord r{op, version, expire_at_ms, key, std::nullopt};
    if (value) r.value.emplace(*value);
    return r;
  }
};

// One status the decoder returned, with what came with it.
struct Decoded {
  SyncStatus status = SyncStatus::kNeedMore;
  size_t consumed = 0;
  SyncHeader header;           // kHeader
  OwnedRecord record;          // kRecord
  std::vector<uint64_t> seqs;  // kHeartbeat
  SyncErrorCode error = SyncErrorCode::kNone;
  std::string message;  // kError
  SyncSection section;  // kSection
  bool operator==(const Decoded&) const = default;
};

inline Decoded decoded_from(const SyncDecoder& d, SyncStatus s) {
  Decoded out{s, d.consumed(), {}, {}, {}, SyncErrorCode::kNone, {}, {}};
  if (s == SyncStatus::kHeader) out.header = d.header();
  if (s == SyncStatus::kSection) out.section = d.section();
  if (s == SyncStatus::kRecord) out.record = OwnedRecord::from(d.record());
  if (s == SyncStatus::kHeartbeat) {
    for (size_t i = 0; i < d.seqs().size(); ++i) out.seqs.push_back(d.seqs()[i]);
  }
  if (s == SyncStatus::kError) {
    out.error = d.error().code;
    out.message = std::string(d.error().message);
  }
  return out;
}

// Decodes a stream of envelopes split into chunks of the sizes `next_chunk` picks. Records
// every status but kNeedMore (stops after an error); a trailing partial item shows up as a
// final kNeedMore entry.
template <typename NextChunk>
std::vector<Decoded> decode_stream(std::string_view input, NextChunk next_chunk,
                                   SyncLimits limits = {}) {
  SyncDecoder decoder(limits);
  std::vector<Decoded> out;
  const bool partial = feed_in_chunks(input, next_chunk, [&](std::string_view carry) {
    // kDone (and an empty heartbeat) consume nothing: keep feeding until the decoder waits.
    size_t used = 0;
    while (true) {
      const SyncStatus s = decoder.feed(carry.substr(used));
      if (s == SyncStatus::kNeedMore) return used;
      out.push_back(decoded_from(decoder, s));
      if (s == SyncStatus::kError) return kStopFeeding;
      used += decoder.consumed();
    }
  });
  if (partial) out.push_back({});
  return out;
}

inline std::vector<Decoded> decode_whole(std::string_view input, SyncLimits limits = {}) {
  return decode_stream(input, LcgChunks{input.size(), 0}, limits);
}

// Encodes one message from its decoded statuses (kHeader first); nullopt when the encoder
// refuses something.
inline std::optional<std::string> encode_decoded(std::span<const Decoded> message,
                                                 SyncLimits limits = {}) {
  std::string out;
  const SyncHeader& header = message.front().header;
  if (header.kind == SyncKind::kHeartbeat) {
    const std::vector<uint64_t> none;
    const bool has_seqs = message.size() > 1 && message[1].status == SyncStatus::kHeartbeat;
    if (!encode_heartbeat(&out, header, has_seqs ? message[1].seqs : none, limits).ok()) {
      return std::nullopt;
    }
    return out;
  }
  if (header.format < 3) {
    SyncEncoder encoder(&out, limits);
    if (!encoder.begin(header).ok()) return std::nullopt;
    for (const Decoded& d : message.subspan(1)) {
      if (d.status != SyncStatus::kRecord) continue;
      if (encoder.add(d.record.view()) != SyncAddStatus::kAdded) return std::nullopt;
    }
    encoder.finish();
    return out;
  }
  // Format 3: each section on its own (SyncEncoder), then joined (SyncBatchEncoder).
  SyncBatchEncoder batch(&out, limits);
  std::string part;
  SyncEncoder encoder(&part, limits);
  const auto join = [&] {
    if (!encoder.open()) return true;
    return batch.add(encoder.finish()) == SyncAddStatus::kAdded;
  };
  for (const Decoded& d : message.subspan(1)) {
    if (d.status == SyncStatus::kSection) {
      if (!join()) return std::nullopt;
      part.clear();
      SyncHeader h = header;
      h.sender = d.section.sender;
      h.partition = d.section.partition;
      h.seq = d.section.seq;
      if (!encoder.begin(h).ok()) return std::nullopt;
    } else if (d.status == SyncStatus::kRecord) {
      if (encoder.add(d.record.view()) != SyncAddStatus::kAdded) return std::nullopt;
    }
  }
  if (!join()) return std::nullopt;
  batch.finish();
  return out;
}

}  // namespace strata::protocol::testing
