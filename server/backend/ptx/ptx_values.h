// server/backend/ptx/ptx_values.h — scalar semantics of PTX instructions on 64-bit slots.
//
// Contract: pure functions on bit patterns, shared by ptx_exec.cc's interpreter. A value is
// the low `bits` of a slot; results are returned zero- or sign-extended (store()). Integer
// division by zero gives all ones (a GPU does not trap); float to integer conversions
// saturate and take NaN to 0, as PTX specifies.
#pragma once

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "server/backend/ptx/ptx_half.h"
#include "server/backend/ptx/ptx_ir.h"

namespace rgpu::server::ptx {

inline uint64_t mask_of(uint32_t bits) {
  return bits >= 64 ? ~0ull : (1ull << bits) - 1;
}
inline int64_t sext(uint64_t v, uint32_t bits) {
  if (bits >= 64) return static_cast<int64_t>(v);
  const uint64_t m = 1ull << (bits - 1);
  v &= mask_of(bits);
  return static_cast<int64_t>((v ^ m) - m);
}
// The slot value of a result of type t.
inline uint64_t store(uint64_t v, Type t) {
  if (t.kind == Kind::kPred) return v & 1;
  if (t.kind == Kind::kS) return static_cast<uint64_t>(sext(v, t.bits));
  return v & mask_of(t.bits);
}
inline float as_f32(uint64_t v) {
  uint32_t b = static_cast<uint32_t>(v);
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
inline double as_f64(uint64_t v) {
  double d;
  std::memcpy(&d, &v, 8);
  return d;
}
inline uint64_t f32_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
inline uint64_t f64_bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, 8);
  return b;
}
inline float ftz32(float f) {
  return std::fpclassify(f) == FP_SUBNORMAL ? std::copysign(0.0f, f) : f;
}
inline double saturate(double x) {
  return std::isnan(x) ? 0.0 : x < 0 ? 0.0 : x > 1 ? 1.0 : x;
}

// Runs f under the IEEE rounding mode `r` (nearest by default).
template <typename F>
auto rounded(Round r, F f) {
  int mode = FE_TONEAREST;
  if (r == Round::kRz || r == Round::kRzi) mode = FE_TOWARDZERO;
  if (r == Round::kRm || r == Round::kRmi) mode = FE_DOWNWARD;
  if (r == Round::kRp || r == Round::kRpi) mode = FE_UPWARD;
  if (mode == FE_TONEAREST) return f();
  const int old = std::fegetround();
  std::fesetround(mode);
  auto v = f();
  std::fesetround(old);
  return v;
}

inline double round_to_integer(double x, Round r) {
  switch (r) {
    case Round::kRni:
      return std::nearbyint(x);  // nearest even under the default mode
    case Round::kRzi:
      return std::trunc(x);
    case Round::kRmi:
      return std::floor(x);
    case Round::kRpi:
      return std::ceil(x);
    default:
      return x;
  }
}

// cvt.dtype.stype with its rounding and saturation.
inline uint64_t convert(uint64_t v, Type d, Type s, Round r, bool sat, bool ftz) {
  if (d.is_float16ish() || s.is_float16ish()) return convert_float16(v, d, s, r, sat, ftz);
  if (!s.is_float() && !d.is_float()) {
    int64_t x = s.kind == Kind::kS ? sext(v, s.bits) : static_cast<int64_t>(v & mask_of(s.bits));
    if (sat) {
      // Clamp to the destination's range.
      if (d.kind == Kind::kS) {
        const int64_t hi = d.bits >= 64 ? INT64_MAX : (1ll << (d.bits - 1)) - 1;
        const int64_t lo = d.bits >= 64 ? INT64_MIN : -(1ll << (d.bits - 1));
        if (s.kind != Kind::kS && (v & mask_of(s.bits)) > static_cast<uint64_t>(hi))
          x = hi;
        else if (x > hi)
          x = hi;
        else if (x < lo)
          x = lo;
      } else {
        const uint64_t hi = mask_of(d.bits);
        if (s.kind == Kind::kS && x < 0)
          x = 0;
        else if (static_cast<uint64_t>(x) > hi && !(s.kind != Kind::kS && s.bits <= d.bits))
          x = static_cast<int64_t>(hi);
      }
    }
    return store(static_cast<uint64_t>(x), d);
  }
  if (!s.is_float()) {  // integer to float
    const bool sig = s.kind == Kind::kS;
    const int64_t si = sext(v, s.bits);
    const uint64_t ui = v & mask_of(s.bits);
    if (d.bits == 64)
      return f64_bits(
          rounded(r, [&] { return sig ? static_cast<double>(si) : static_cast<double>(ui); }));
    float f = rounded(r, [&] { return sig ? static_cast<float>(si) : static_cast<float>(ui); });
    if (sat) f = static_cast<float>(saturate(f));
    return f32_bits(f);
  }
  double x = s.bits == 64 ? as_f64(v) : static_cast<double>(ftz ? ftz32(as_f32(v)) : as_f32(v));
  if (!d.is_float()) {  // float to integer: round, then saturate; NaN is 0
    if (std::isnan(x)) return 0;
    x = round_to_integer(x, r == Round::kDefault ? Round::kRzi : r);
    if (d.kind == Kind::kS) {
      const double hi = d.bits >= 64 ? 9223372036854775807.0 : std::ldexp(1.0, d.bits - 1) - 1;
      const double lo = d.bits >= 64 ? -9223372036854775808.0 : -std::ldexp(1.0, d.bits - 1);
      if (x >= hi) return store(d.bits >= 64 ? INT64_MAX : static_cast<uint64_t>(hi), d);
      if (x <= lo) return store(static_cast<uint64_t>(static_cast<int64_t>(lo)), d);
      return store(static_cast<uint64_t>(static_cast<int64_t>(x)), d);
    }
    const double hi = d.bits >= 64 ? 18446744073709551615.0 : std::ldexp(1.0, d.bits) - 1;
    if (x <= 0) return 0;
    if (x >= hi) return mask_of(d.bits);
    return static_cast<uint64_t>(x);
  }
  // Float to float.
  if (d.bits == 64) {
    double y = round_to_integer(x, r);
    return f64_bits(sat ? saturate(y) : y);
  }
  float f;
  if (r == Round::kRni || r == Round::kRzi || r == Round::kRmi || r == Round::kRpi) {
    f = static_cast<float>(round_to_integer(x, r));
  } else if (s.bits == 64) {
    f = rounded(r, [&] { return static_cast<float>(x); });
  } else {
    f = static_cast<float>(x);
  }
  if (ftz) f = ftz32(f);
  if (sat) f = static_cast<float>(saturate(f));
  return f32_bits(f);
}

// setp's comparison of a and b of type t.
inline bool compare(Cmp c, uint64_t a, uint64_t b, Type t) {
  if (t.is_float()) {
    const double x = t.bits == 64 ? as_f64(a) : as_f32(a);
    const double y = t.bits == 64 ? as_f64(b) : as_f32(b);
    const bool nan = std::isnan(x) || std::isnan(y);
    switch (c) {
      case Cmp::kEq:
        return !nan && x == y;
      case Cmp::kNe:
        return !nan && x != y;
      case Cmp::kLt:
        return !nan && x < y;
      case Cmp::kLe:
        return !nan && x <= y;
      case Cmp::kGt:
        return !nan && x > y;
      case Cmp::kGe:
        return !nan && x >= y;
      case Cmp::kEqu:
        return nan || x == y;
      case Cmp::kNeu:
        return nan || x != y;
      case Cmp::kLtu:
        return nan || x < y;
      case Cmp::kLeu:
        return nan || x <= y;
      case Cmp::kGtu:
        return nan || x > y;
      case Cmp::kGeu:
        return nan || x >= y;
      case Cmp::kNum:
        return !nan;
      case Cmp::kNan:
        return nan;
      default:
        return false;
    }
  }
  const uint64_t ua = a & mask_of(t.bits), ub = b & mask_of(t.bits);
  const int64_t sa = sext(a, t.bits), sb = sext(b, t.bits);
  const bool sig = t.kind == Kind::kS;
  switch (c) {
    case Cmp::kEq:
      return ua == ub;
    case Cmp::kNe:
      return ua != ub;
    case Cmp::kLt:
      return sig ? sa < sb : ua < ub;
    case Cmp::kLe:
      return sig ? sa <= sb : ua <= ub;
    case Cmp::kGt:
      return sig ? sa > sb : ua > ub;
    case Cmp::kGe:
      return sig ? sa >= sb : ua >= ub;
    case Cmp::kLo:
      return ua < ub;
    case Cmp::kLs:
      return ua <= ub;
    case Cmp::kHi:
      return ua > ub;
    case Cmp::kHs:
      return ua >= ub;
    default:
      return false;
  }
}

// The high half of a * b for `bits`-wide operands.
inline uint64_t mul_hi(uint64_t a, uint64_t b, Type t) {
  if (t.bits == 64) {
    if (t.kind == Kind::kS)
      return static_cast<uint64_t>(
          static_cast<__int128>(static_cast<int64_t>(a)) * static_cast<int64_t>(b) >> 64);
    return static_cast<uint64_t>(static_cast<unsigned __int128>(a) * b >> 64);
  }
  if (t.kind == Kind::kS)
    return static_cast<uint64_t>((sext(a, t.bits) * sext(b, t.bits)) >> t.bits);
  return ((a & mask_of(t.bits)) * (b & mask_of(t.bits))) >> t.bits;
}
// The full product of two `bits`-wide operands (2*bits wide, at most 64).
inline uint64_t mul_wide(uint64_t a, uint64_t b, Type t) {
  if (t.kind == Kind::kS) return static_cast<uint64_t>(sext(a, t.bits) * sext(b, t.bits));
  return (a & mask_of(t.bits)) * (b & mask_of(t.bits));
}

inline uint64_t div_int(uint64_t a, uint64_t b, Type t, bool rem) {
  if (t.kind == Kind::kS) {
    const int64_t x = sext(a, t.bits), y = sext(b, t.bits);
    if (y == 0) return rem ? a : mask_of(t.bits);
    if (y == -1) return rem ? 0 : static_cast<uint64_t>(-static_cast<uint64_t>(x));
    return static_cast<uint64_t>(rem ? x % y : x / y);
  }
  const uint64_t x = a & mask_of(t.bits), y = b & mask_of(t.bits);
  if (y == 0) return rem ? x : mask_of(t.bits);
  return rem ? x % y : x / y;
}

}  // namespace rgpu::server::ptx
