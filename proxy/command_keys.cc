#include "proxy/command_keys.h"

#include <charconv>

namespace strata::proxy {

void collect_keys(const CommandSpec& spec, Args args, std::vector<std::string_view>* out) {
  const int argc = static_cast<int>(args.size());
  std::string_view n = spec.name;
  if (n == "eval" || n == "evalsha" || n == "eval_ro" || n == "evalsha_ro" || n == "fcall" ||
      n == "fcall_ro") {
    if (argc < 3) return;
    long long numkeys = 0;
    auto [p, ec] = std::from_chars(args[2].data(), args[2].data() + args[2].size(), numkeys);
    if (ec != std::errc() || numkeys < 0) return;
    for (long long i = 3; i < 3 + numkeys && i < argc; ++i) out->push_back(args[i]);
    return;
  }
  if (spec.first_key <= 0 || argc <= spec.first_key) return;
  int last = spec.last_key < 0 ? argc + spec.last_key : spec.last_key;
  const int step = spec.key_step > 0 ? spec.key_step : 1;
  for (int i = spec.first_key; i <= last && i < argc; i += step) out->push_back(args[i]);
}

}  // namespace strata::proxy
