// server/backend/ptx/ptx_half.cc — see ptx_half.h.
#include "server/backend/ptx/ptx_half.h"

#include <cfenv>
#include <cmath>
#include <cstring>

#include "server/backend/ptx/ptx_values.h"

namespace rgpu::server::ptx {

namespace {

constexpr uint16_t kCanonicalNan = 0x7fff;

// f() computed in double with rounding to odd: truncated, with the last bit set when inexact.
// A value rounded to odd at 53 bits rounds correctly to any format of 51 bits or fewer.
template <typename F>
double to_odd(F f) {
  const int old = std::fegetround();
  std::fesetround(FE_TOWARDZERO);
  std::feclearexcept(FE_INEXACT);
  volatile double y = f();
  const bool inexact = std::fetestexcept(FE_INEXACT) != 0;
  std::fesetround(old);
  double v = y;
  if (inexact && std::isfinite(v)) {
    uint64_t b;
    std::memcpy(&b, &v, 8);
    b |= 1;
    std::memcpy(&v, &b, 8);
  }
  return v;
}

// An integer source as a double rounded to odd (exact below 2^53).
double integer_value(uint64_t v, Type s) {
  const bool neg = s.kind == Kind::kS && sext(v, s.bits) < 0;
  uint64_t u = s.kind == Kind::kS ? static_cast<uint64_t>(neg ? -sext(v, s.bits) : sext(v, s.bits))
                                  : v & mask_of(s.bits);
  if (u >> 53) {
    const int shift = 64 - __builtin_clzll(u) - 53;
    const bool sticky = (u & ((1ull << shift) - 1)) != 0;
    u = (u >> shift) << shift;
    if (sticky) u |= 1ull << shift;
  }
  const double d = static_cast<double>(u);  // exact: at most 53 significant bits
  return neg ? -d : d;
}

double flush(double x, FloatFormat f) {
  return x != 0 && std::fabs(x) < std::ldexp(1.0, f.emin) ? std::copysign(0.0, x) : x;
}

FloatFormat format_of(Type t) {
  return t.kind == Kind::kBf ? kBf16 : kF16;
}

}  // namespace

double round_to_format(double x, FloatFormat f, Round r) {
  if (std::isnan(x) || std::isinf(x) || x == 0) return x;
  const bool neg = std::signbit(x);
  const double a = std::fabs(x);
  int e = std::ilogb(a);
  if (e < f.emin) e = f.emin;  // subnormal: the smallest quantum
  const double q = std::ldexp(1.0, e - (f.precision - 1));
  const double scaled = a / q;  // exact: a power of two apart
  double n = std::floor(scaled);
  const double frac = scaled - n;
  bool up;
  switch (r) {
    case Round::kRz:
      up = false;
      break;
    case Round::kRm:
      up = neg && frac > 0;
      break;
    case Round::kRp:
      up = !neg && frac > 0;
      break;
    case Round::kRna:
      up = frac >= 0.5;
      break;
    default:
      up = frac > 0.5 || (frac == 0.5 && std::fmod(n, 2.0) != 0);
  }
  if (up) n += 1;
  double y = n * q;
  const double max_finite = std::ldexp(2.0 - std::ldexp(1.0, 1 - f.precision), f.emax);
  if (y > max_finite) {
    const bool to_inf = r == Round::kRz   ? false
                        : r == Round::kRm ? neg
                        : r == Round::kRp ? !neg
                                          : true;
    y = to_inf ? INFINITY : max_finite;
  }
  return neg ? -y : y;
}

double f16_value(uint16_t bits) {
  const int e = (bits >> 10) & 31, m = bits & 1023;
  double v;
  if (e == 31)
    v = m ? NAN : INFINITY;
  else if (e == 0)
    v = std::ldexp(static_cast<double>(m), -24);
  else
    v = std::ldexp(static_cast<double>(1024 + m), e - 25);
  return (bits & 0x8000) ? -v : v;
}

double bf16_value(uint16_t bits) {
  return as_f32(static_cast<uint64_t>(bits) << 16);
}

uint16_t f16_bits_of(double x) {
  if (std::isnan(x)) return kCanonicalNan;
  const uint16_t s = std::signbit(x) ? 0x8000 : 0;
  const double a = std::fabs(x);
  if (std::isinf(a)) return s | 0x7c00;
  if (a == 0) return s;
  if (a < std::ldexp(1.0, -14)) return s | static_cast<uint16_t>(std::ldexp(a, 24));
  const int e = std::ilogb(a);
  const uint16_t m = static_cast<uint16_t>(std::ldexp(a, 10 - e)) - 1024;
  return s | static_cast<uint16_t>((e + 15) << 10) | m;
}

uint16_t bf16_bits_of(double x) {
  if (std::isnan(x)) return kCanonicalNan;
  return static_cast<uint16_t>(f32_bits(static_cast<float>(x)) >> 16);  // exact in f32
}

double element_value(uint64_t v, Type t, uint32_t lane) {
  const uint16_t bits = static_cast<uint16_t>(v >> (16 * lane));
  return t.kind == Kind::kBf ? bf16_value(bits) : f16_value(bits);
}

uint16_t element_bits(double x, Type t, Round r) {
  const double y = round_to_format(x, format_of(t), r);
  return t.kind == Kind::kBf ? bf16_bits_of(y) : f16_bits_of(y);
}

uint64_t convert_float16(uint64_t v, Type d, Type s, Round r, bool sat, bool ftz) {
  double x;
  if (s.is_half())
    x = element_value(v, s, 0);
  else if (s.kind == Kind::kTf32 || (s.is_float() && s.bits == 32))
    x = ftz && s.is_float() ? ftz32(as_f32(v)) : as_f32(v);
  else if (s.is_float())
    x = as_f64(v);
  else
    x = integer_value(v, s);
  if (d.is_half()) {
    if (sat) x = saturate(x);
    if (r == Round::kRni || r == Round::kRzi || r == Round::kRmi || r == Round::kRpi) {
      x = round_to_integer(x, r);
      r = Round::kRn;
    }
    return element_bits(x, d, r);
  }
  if (d.kind == Kind::kTf32) {
    if (std::isnan(x)) return 0x7fffffffu;
    return f32_bits(static_cast<float>(round_to_format(x, kTf32Format, r)));
  }
  if (d.is_float()) {
    if (d.bits == 64) return f64_bits(sat ? saturate(x) : x);
    float f = static_cast<float>(x);  // exact: every 16-bit or tf32 value is an f32
    if (ftz) f = ftz32(f);
    return f32_bits(sat ? static_cast<float>(saturate(f)) : f);
  }
  // To an integer: as from the f64 holding the same value.
  return convert(f64_bits(x), d, Type{Kind::kF, 64}, r, sat, false);
}

uint64_t half_arith(Op op, Type t, Round r, bool ftz, bool sat, uint64_t a, uint64_t b,
                    uint64_t c) {
  const FloatFormat f = format_of(t);
  const uint32_t lanes = t.lanes > 1 ? t.lanes : 1;
  uint64_t out = 0;
  for (uint32_t l = 0; l < lanes; ++l) {
    const uint16_t ab = static_cast<uint16_t>(a >> (16 * l));
    uint16_t bits;
    if (op == Op::kNeg) {
      bits = ab ^ 0x8000;
    } else if (op == Op::kAbs) {
      bits = ab & 0x7fff;
    } else {
      double x = element_value(a, t, l), y = element_value(b, t, l), z = element_value(c, t, l);
      if (ftz) x = flush(x, f), y = flush(y, f), z = flush(z, f);
      double v;
      switch (op) {
        case Op::kAdd:
          v = to_odd([&] { return x + y; });
          break;
        case Op::kSub:
          v = to_odd([&] { return x - y; });
          break;
        case Op::kMul:
          v = to_odd([&] { return x * y; });
          break;
        case Op::kFma:
        case Op::kMad:
          v = to_odd([&] { return std::fma(x, y, z); });
          break;
        case Op::kMin:
          v = std::isnan(x) && std::isnan(y) ? NAN : std::fmin(x, y);
          break;
        default:  // kMax
          v = std::isnan(x) && std::isnan(y) ? NAN : std::fmax(x, y);
          break;
      }
      v = round_to_format(v, f, r == Round::kDefault ? Round::kRn : r);
      if (sat) v = saturate(v);
      if (ftz) v = flush(v, f);
      bits = t.kind == Kind::kBf ? bf16_bits_of(v) : f16_bits_of(v);
    }
    out |= static_cast<uint64_t>(bits) << (16 * l);
  }
  return out;
}

bool half_compare(Cmp c, uint64_t a, uint64_t b, Type t, uint32_t lane) {
  return compare(c, f64_bits(element_value(a, t, lane)), f64_bits(element_value(b, t, lane)),
                 Type{Kind::kF, 64});
}

}  // namespace rgpu::server::ptx
