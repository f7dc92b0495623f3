// libFuzzer target for the RESP2 -> RESP3 reply converter (protocol/reply_shape.h). The first
// input byte picks a shape program: one of the generated table's rows, or (past the table) a
// program taken from the input itself up to a NUL; the rest is the RESP2 reply. Besides crashes
// and sanitizer reports it checks:
//  - the converter only sees what reaches it in strata: one complete reply, as the upstream
//    connection's ReplyScanner framed it (other inputs are skipped);
//  - what a conversion that succeeds appends is one complete RESP3 reply, nothing more;
//  - resp3_same() is never true for a reply the converter would change.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocol/reply_scanner.h"
#include "protocol/reply_shape.h"

namespace {

using strata::protocol::ReplyScanner;
using strata::protocol::ScanStatus;

void check(bool ok) {
  if (!ok) std::abort();
}

// Exactly one complete reply in `bytes`.
bool one_reply(std::string_view bytes) {
  ReplyScanner s;
  return s.feed(bytes) == ScanStatus::kDone && s.consumed() == bytes.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto rows = strata::protocol::reply_shape_rows();
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string program;
  const size_t pick = data[0];
  if (pick < rows.size()) {
    program = rows[pick].program;
  } else {
    const size_t nul = in.find('\0');
    if (nul == std::string_view::npos) return 0;
    program.assign(in.substr(0, nul));
    in.remove_prefix(nul + 1);
  }
  if (!one_reply(in)) return 0;
  std::string out = "prefix";
  const bool ok = strata::protocol::resp2_to_resp3(in, program.c_str(), &out);
  if (!ok) return 0;
  check(out.starts_with("prefix"));
  const std::string_view converted = std::string_view(out).substr(6);
  check(one_reply(converted));
  if (strata::protocol::resp3_same(in, program.c_str())) check(converted == in);
  return 0;
}
