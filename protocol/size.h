// protocol/size.h — the one way every component reads a size a person wrote ("16GiB").
//
// Contract: parse_size() accepts a positive number, optionally with a fraction, and an optional
// unit, case-insensitive: none or B (bytes); K, M, G, T or KiB, MiB, GiB, TiB (powers of 1024,
// as GPU memory is counted); KB, MB, GB, TB (powers of 1000, as SI means). So RGPU_VRAM=16GB,
// rgpu run --vram 16GB and rgpu-server --vram 16GB all mean 16,000,000,000 bytes, and 16G or
// 16GiB mean 17,179,869,184. A fraction rounds down to whole bytes. It refuses zero, a negative
// or missing number, an unknown unit, spaces and anything past 2^64-1 bytes.
// kSizeHint is the example text errors show.
#pragma once

#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

namespace rgpu {

inline constexpr const char* kSizeHint = "a size like 16GiB, 512MiB, 40GB or a byte count";

inline bool parse_size(std::string_view s, uint64_t* out) {
  size_t i = 0;
  unsigned __int128 whole = 0, frac = 0, frac_scale = 1;
  size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    whole = whole * 10 + static_cast<unsigned>(s[i++] - '0');
    if (++digits > 20) return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t fd = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      if (fd < 18) {  // further digits cannot change a whole byte count below 2^64 by much
        frac = frac * 10 + static_cast<unsigned>(s[i] - '0');
        frac_scale *= 10;
      }
      ++i;
      ++fd;
    }
    if (fd == 0) return false;
  }
  if (digits == 0) return false;
  std::string unit;
  for (char c : s.substr(i)) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  unsigned __int128 mul;
  if (unit.empty() || unit == "b")
    mul = 1;
  else if (unit == "k" || unit == "kib")
    mul = 1ull << 10;
  else if (unit == "m" || unit == "mib")
    mul = 1ull << 20;
  else if (unit == "g" || unit == "gib")
    mul = 1ull << 30;
  else if (unit == "t" || unit == "tib")
    mul = 1ull << 40;
  else if (unit == "kb")
    mul = 1000;
  else if (unit == "mb")
    mul = 1000ull * 1000;
  else if (unit == "gb")
    mul = 1000ull * 1000 * 1000;
  else if (unit == "tb")
    mul = 1000ull * 1000 * 1000 * 1000;
  else
    return false;
  const unsigned __int128 bytes = whole * mul + frac * mul / frac_scale;
  if (bytes == 0 || bytes > UINT64_MAX) return false;
  *out = static_cast<uint64_t>(bytes);
  return true;
}

}  // namespace rgpu
