// protocol/control/compute_share.h — a compute share: the part of one GPU's device time a lease
// is guaranteed under contention (`rgpu run --compute`, `rgpu-server --lend-compute`).
//
// Contract: a share is an integer of thousandths of a GPU (1..1000) on the wire, in the pool's
// records and in leases; 0 means "none stated" (a lease without a share; a provider from before
// compute shares, which lends all of it). parse_compute_share() takes "0.5", "1", ".25" or
// "25%" and refuses 0, more than 1 (100 %), more than three decimals (a thousandth is the
// finest share) and anything else.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace rgpu::control {

inline constexpr uint32_t kWholeComputeMilli = 1000;

inline bool parse_compute_share(std::string text, uint32_t* milli) {
  bool percent = !text.empty() && text.back() == '%';
  if (percent) text.pop_back();
  if (text.empty() || text.size() > 8) return false;
  uint64_t whole = 0, frac = 0;
  size_t i = 0, digits = 0, decimals = 0;
  for (; i < text.size() && text[i] != '.'; ++i, ++digits) {
    if (text[i] < '0' || text[i] > '9') return false;
    whole = whole * 10 + uint64_t(text[i] - '0');
  }
  if (i < text.size()) {  // the '.'
    for (++i; i < text.size(); ++i, ++decimals) {
      if (text[i] < '0' || text[i] > '9' || decimals == 3) return false;
      frac = frac * 10 + uint64_t(text[i] - '0');
    }
    if (decimals == 0 && digits == 0) return false;
  }
  for (size_t d = decimals; d < 3; ++d) frac *= 10;
  uint64_t m = whole * 1000 + frac;  // thousandths of the number written
  if (percent) {
    if (m % 100) return false;  // 12.5% is fine, 12.55% is finer than a thousandth
    m /= 100;
  }
  if (m == 0 || m > kWholeComputeMilli) return false;
  *milli = uint32_t(m);
  return true;
}

// "0.5", "0.25", "1" (a share as flags take it).
inline std::string compute_share_text(uint32_t milli) {
  char b[16];
  std::snprintf(b, sizeof b, "%u.%03u", milli / 1000, milli % 1000);
  std::string s = b;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

}  // namespace rgpu::control
