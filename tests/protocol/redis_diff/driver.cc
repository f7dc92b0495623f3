// Reads a byte stream on stdin, parses it with RespParser and prints one line per result:
//   D <hex arg> <hex arg>...   a command ("-" stands for an empty argument)
//   M                          an empty command (skipped)
//   E <error text>             a protocol error (parsing stops)
//   N                          the stream ends inside a command
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>

#include "protocol/resp_parser.h"

namespace {

std::string hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out.empty() ? "-" : out;
}

}  // namespace

int main() {
  using strata::protocol::ParseStatus;
  const std::string input((std::istreambuf_iterator<char>(std::cin)), {});
  strata::protocol::RespParser parser;
  std::string_view rest = input;
  while (!rest.empty()) {
    const ParseStatus s = parser.feed(rest);
    if (s == ParseStatus::kNeedMore) {
      std::cout << "N\n";
      break;
    }
    if (s == ParseStatus::kError) {
      std::cout << "E " << parser.error() << "\n";
      break;
    }
    if (s == ParseStatus::kEmpty) {
      std::cout << "M\n";
    } else {
      std::cout << "D";
      for (std::string_view a : parser.args()) std::cout << " " << hex(a);
      std::cout << "\n";
    }
    rest.remove_prefix(parser.consumed());
  }
}
