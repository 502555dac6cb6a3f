// protocol/control/money.h — money on the control plane: integer micro-units.
//
// Contract: 1 credit = 1,000,000 micro-units; every price, cost and earning is an int64 of
// micro-units, parsed from and shown as decimals only at the edges (flags, tables), so nothing
// is lost to rounding drift. parse_money() takes "0.5", "12", "0.000001" and refuses negative
// amounts, more than six decimals and more than 1e12 credits.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace rgpu::control {

inline constexpr int64_t kMicro = 1'000'000;

inline bool parse_money(const std::string& text, int64_t* micro) {
  if (text.empty() || text.size() > 24) return false;
  int64_t whole = 0, frac = 0;
  size_t i = 0, digits = 0, decimals = 0;
  for (; i < text.size() && text[i] != '.'; ++i, ++digits) {
    if (text[i] < '0' || text[i] > '9') return false;
    whole = whole * 10 + (text[i] - '0');
    if (whole > 1'000'000'000'000) return false;
  }
  if (i < text.size()) {  // the '.'
    for (++i; i < text.size(); ++i, ++decimals) {
      if (text[i] < '0' || text[i] > '9' || decimals == 6) return false;
      frac = frac * 10 + (text[i] - '0');
    }
    if (decimals == 0) return false;
  }
  if (digits == 0 && decimals == 0) return false;
  for (size_t d = decimals; d < 6; ++d) frac *= 10;
  *micro = whole * kMicro + frac;
  return true;
}

inline std::string format_money(int64_t micro) {  // "0.500000"
  char b[40];
  const bool neg = micro < 0;
  const uint64_t m = neg ? static_cast<uint64_t>(-(micro + 1)) + 1 : static_cast<uint64_t>(micro);
  std::snprintf(b, sizeof b, "%s%llu.%06llu", neg ? "-" : "",
                static_cast<unsigned long long>(m / kMicro),
                static_cast<unsigned long long>(m % kMicro));
  return b;
}

}  // namespace rgpu::control
