// server/backend/ptx/ptx_lex.h — PTX tokens, for ptx_parse.cc.
//
// Contract: lex_ptx() splits PTX text into identifiers (directives `.entry`, registers
// `%tid.x`, opcodes `ld.global.L1::evict_last.f32`, labels `$L__BB0_2`), numbers (`42`,
// `0x1f`, `0f3F800000`, `1.5`), strings and single punctuation characters, each with its
// line. Comments are dropped. Tokens are views into the text, which must outlive them.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace rgpu::server::ptx {

struct Tok {
  enum K : uint8_t { kIdent, kNum, kStr, kPunct, kEnd };
  K k = kEnd;
  std::string_view s;
  uint32_t line = 0;
  bool is(char c) const { return k == kPunct && s.size() == 1 && s[0] == c; }
  bool is(std::string_view w) const { return k == kIdent && s == w; }
};

inline bool ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || c == '%' ||
         c == '.';
}
inline bool ident_char(char c) {
  return ident_start(c) || (c >= '0' && c <= '9');
}

// Ends with one kEnd token.
inline std::vector<Tok> lex_ptx(std::string_view t) {
  std::vector<Tok> out;
  uint32_t line = 1;
  size_t i = 0;
  while (i < t.size()) {
    const char c = t[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' || c == '\0') {
      ++i;
    } else if (c == '/' && i + 1 < t.size() && t[i + 1] == '/') {
      while (i < t.size() && t[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < t.size() && t[i + 1] == '*') {
      i += 2;
      while (i + 1 < t.size() && !(t[i] == '*' && t[i + 1] == '/')) line += t[i++] == '\n';
      i = std::min(t.size(), i + 2);
    } else if (c == '"') {
      size_t j = i + 1;
      while (j < t.size() && t[j] != '"' && t[j] != '\n') ++j;
      out.push_back({Tok::kStr, t.substr(i, std::min(t.size(), j + 1) - i), line});
      i = std::min(t.size(), j + 1);
    } else if (ident_start(c)) {
      size_t j = i + 1;
      for (;;) {
        if (j < t.size() && ident_char(t[j])) {
          ++j;
        } else if (j + 2 < t.size() && t[j] == ':' && t[j + 1] == ':' && ident_char(t[j + 2])) {
          j += 2;  // ld.global.L1::evict_last
        } else {
          break;
        }
      }
      out.push_back({Tok::kIdent, t.substr(i, j - i), line});
      i = j;
    } else if (c >= '0' && c <= '9') {
      size_t j = i + 1;
      while (j < t.size() && (ident_char(t[j]) && t[j] != '%' && t[j] != '$')) ++j;
      out.push_back({Tok::kNum, t.substr(i, j - i), line});
      i = j;
    } else {
      out.push_back({Tok::kPunct, t.substr(i, 1), line});
      ++i;
    }
  }
  out.push_back({Tok::kEnd, {}, line});
  return out;
}

}  // namespace rgpu::server::ptx
