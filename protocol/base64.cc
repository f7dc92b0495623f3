#include "protocol/base64.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>

// The encoding and decoding are OpenSSL's (EVP_EncodeBlock, EVP_DecodeBlock); strictness is
// added on top. OpenSSL's decoder is lenient: it skips whitespace and line breaks at either
// end, reads '=' anywhere as zero bits and ignores the unused bits of the last character. So
// the bytes it gives are encoded again, and that encoding must equal the text byte for byte.
// An encoder writes each string of bytes exactly one way, so this one comparison refuses
// whitespace, a misplaced '=', characters outside the alphabet and non-zero unused bits alike.
// base64url is translated to the standard alphabet and padded before decoding, and translated
// back after encoding.
namespace strata::protocol {
namespace {

// OpenSSL takes and returns lengths as int, so it gets the text in pieces of whole groups: 3 KiB
// of bytes, 4 KiB of characters, small enough for a piece's re-encoding to sit on the stack.
constexpr size_t kPieceBytes = 3 * 1024;
constexpr size_t kPieceChars = kPieceBytes / 3 * 4;

// base64url's '-' and '_' become '+' and '/'. The standard alphabet's '+' and '/' and any '='
// would then pass for them or for padding, so they become '*': no encoder writes it, and the
// text is refused. Every other byte stays as it is.
constexpr std::array<char, 256> kUrlToStandard = [] {
  std::array<char, 256> table{};
  for (size_t c = 0; c < table.size(); ++c) table[c] = static_cast<char>(c);
  table['-'] = '+';
  table['_'] = '/';
  table['+'] = table['/'] = table['='] = '*';
  return table;
}();

unsigned char* bytes_at(char* p) { return reinterpret_cast<unsigned char*>(p); }
const unsigned char* bytes_at(const char* p) { return reinterpret_cast<const unsigned char*>(p); }

// 4 characters per 3 bytes, the last group padded.
size_t padded_size(size_t bytes) { return (bytes + 2) / 3 * 4; }

// True when `text` is exactly the padded encoding of `bytes`. Encoded a piece at a time on the
// stack, to compare without a second string.
bool encodes_to(std::string_view bytes, std::string_view text) {
  if (padded_size(bytes.size()) != text.size()) return false;
  char piece[kPieceChars + 1];  // and EVP_EncodeBlock's NUL
  for (size_t at = 0; at < bytes.size(); at += kPieceBytes) {
    const size_t n = std::min(kPieceBytes, bytes.size() - at);
    const int chars =
        EVP_EncodeBlock(bytes_at(piece), bytes_at(bytes.data() + at), static_cast<int>(n));
    if (std::string_view(piece, static_cast<size_t>(chars)) !=
        text.substr(at / 3 * 4, static_cast<size_t>(chars))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  append_base64(&out, bytes);
  return out;
}

void append_base64(std::string* out, std::string_view bytes) {
  const size_t at = out->size();
  out->resize(at + padded_size(bytes.size()));
  // Each piece's NUL lands where the next piece goes, the last one's on the string's own
  // terminator, which may be written with NUL.
  char* chars = out->data() + at;
  for (size_t from = 0; from < bytes.size(); from += kPieceBytes) {
    const size_t n = std::min(kPieceBytes, bytes.size() - from);
    EVP_EncodeBlock(bytes_at(chars + from / 3 * 4), bytes_at(bytes.data() + from),
                    static_cast<int>(n));
  }
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  for (size_t at = 0; at < text.size(); at += kPieceChars) {
    const size_t n = std::min(kPieceChars, text.size() - at);
    // 3 bytes for each group of 4 characters; anything else means OpenSSL skipped whitespace
    // at the piece's ends or met a character that is neither in the alphabet nor '='.
    const int got = EVP_DecodeBlock(bytes_at(out.data() + at / 4 * 3), bytes_at(text.data() + at),
                                    static_cast<int>(n));
    if (got != static_cast<int>(n / 4 * 3)) return std::nullopt;
  }
  // OpenSSL counts the padding's zero bits as 1 or 2 more bytes. An '=' before the end was
  // read as zero bits as well: the comparison below refuses it, since no encoding has one there.
  const size_t pad = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
  out.resize(out.size() - pad);
  if (!encodes_to(out, text)) return std::nullopt;
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out = base64_encode(bytes);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c == '+' ? '-' : c == '/' ? '_' : c;
  });
  out.resize((bytes.size() * 4 + 2) / 3);  // without the padding
  return out;
}

// Translated to the standard alphabet and padded, then decoded as such: the re-encoding is
// compared with the translation.
std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;  // 6 bits over: less than a byte
  std::string standard((text.size() + 3) / 4 * 4, '=');
  std::transform(text.begin(), text.end(), standard.begin(),
                 [](char c) { return kUrlToStandard[static_cast<unsigned char>(c)]; });
  return base64_decode(standard);
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

}  // namespace strata::protocol
