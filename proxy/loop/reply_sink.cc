#include "proxy/loop/reply_sink.h"

namespace strata::proxy {

std::string error_line(std::string_view text) {
  std::string s = "-";
  s.append(text);
  s.append("\r\n");
  return s;
}

}  // namespace strata::proxy
