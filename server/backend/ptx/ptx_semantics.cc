// server/backend/ptx/ptx_semantics.cc — Block::each_lane() (ptx_block.h): what one
// instruction does, for each active lane of a group in turn; the interpreter's per-instruction
// semantics. Control flow (branches, calls, returns, barriers, collectives) is ptx_step.cc's.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "server/backend/ptx/ptx_block.h"
#include "server/backend/ptx/ptx_half.h"
#include "server/backend/ptx/ptx_values.h"

namespace rgpu::server::ptx::detail {

bool Block::each_lane(const Kernel& K, const Inst& in, const uint32_t* act, uint64_t* const* aregs,
                      uint32_t na, uint32_t pc) {
  // EACH_LANE runs its statement for each active lane with t and r (its registers) set; the
  // helpers below read them.
  uint32_t t = act[0];
  uint64_t* r = aregs[0];
#define EACH_LANE for (uint32_t e = 0; e < na && ((t = act[e]), (r = aregs[e]), true); ++e)
  const Type ty = in.type;
  const bool f64 = ty.is_float() && ty.bits == 64;
  const bool fl = ty.is_float();
  // Registers and immediates straight from this frame; the rest through value().
  auto A = [&](int i) -> uint64_t {
    const Operand& o = in.ops[i];
    if (o.kind == Operand::kReg) return o.negate_pred ? (~r[o.reg] & 1) : r[o.reg];
    if (o.kind == Operand::kImm) return o.imm;
    return value(o, t);
  };
  auto put = [&](uint64_t v) {
    if (in.ops[0].kind == Operand::kReg) r[in.ops[0].reg] = store(v, ty);
  };
  // Float helpers: apply f to the sources as float or double, honouring ftz and sat.
  auto f1 = [&](auto f) {
    if (f64) {
      double x = f(as_f64(A(1)));
      put(f64_bits(in.sat ? saturate(x) : x));
    } else {
      float a = as_f32(A(1));
      if (in.ftz) a = ftz32(a);
      float x = static_cast<float>(f(static_cast<double>(a)));
      if (in.ftz) x = ftz32(x);
      put(f32_bits(in.sat ? static_cast<float>(saturate(x)) : x));
    }
  };
  auto f2 = [&](auto f) {
    if (f64) {
      double x = rounded(in.round, [&] { return f(as_f64(A(1)), as_f64(A(2))); });
      put(f64_bits(in.sat ? saturate(x) : x));
    } else {
      float a = as_f32(A(1)), b = as_f32(A(2));
      if (in.ftz) a = ftz32(a), b = ftz32(b);
      float x = rounded(in.round, [&] { return f(a, b); });
      if (in.ftz) x = ftz32(x);
      put(f32_bits(in.sat ? static_cast<float>(saturate(x)) : x));
    }
  };
  if (ty.is_half() && is_half_arith(in.op)) {  // ptx_half.h
    EACH_LANE put(half_arith(in.op, ty, in.round, in.ftz, in.sat, A(1), in.nops > 2 ? A(2) : 0,
                             in.nops > 3 ? A(3) : 0));
    return true;
  }
  switch (in.op) {
    case Op::kMov:
      EACH_LANE {
        if (in.ops[1].kind == Operand::kVec) {  // pack
          const Operand& v = in.ops[1];
          const uint32_t eb = ty.bits / v.nvec;
          uint64_t x = 0;
          for (uint32_t i = 0; i < v.nvec; ++i)
            x |= (v.vec[i] >= 0 ? r[v.vec[i]] & mask_of(eb) : 0) << (eb * i);
          put(x);
        } else if (in.ops[0].kind == Operand::kVec) {  // unpack
          const Operand& v = in.ops[0];
          const uint32_t eb = ty.bits / v.nvec;
          const uint64_t x = A(1);
          for (uint32_t i = 0; i < v.nvec; ++i)
            if (v.vec[i] >= 0) r[v.vec[i]] = (x >> (eb * i)) & mask_of(eb);
        } else {
          put(A(1));
        }
      }
      break;
    case Op::kLd:
    case Op::kSt:
      EACH_LANE {
        pc_[t] = pc;
        if (!load_store(in, t)) return false;
      }
      break;
    case Op::kAtom:
    case Op::kRed:
      EACH_LANE {
        pc_[t] = pc;
        if (!atomic(in, t)) return false;
      }
      break;
    case Op::kCvta: {
      EACH_LANE {
        const uint64_t a = A(1);
        const uint64_t base = in.space == Space::kShared  ? kSharedWindow
                              : in.space == Space::kLocal ? kLocalWindow
                              : in.space == Space::kParam ? kParamWindow
                                                          : 0;
        put(a + base);
      }
      break;
    }
    case Op::kCvtaTo: {
      EACH_LANE {
        const uint64_t a = A(1);
        const uint64_t base = in.space == Space::kShared  ? kSharedWindow
                              : in.space == Space::kLocal ? kLocalWindow
                              : in.space == Space::kParam ? kParamWindow
                                                          : 0;
        uint64_t v = base && a - base < kWindowSize ? a - base : (base ? ~0ull : a);
        put(v);
      }
      break;
    }
    case Op::kCvt:
      EACH_LANE {
        if (ty.lanes == 2) {  // cvt.rn.f16x2.f32 d, a, b: a to the upper half, b to the lower
          const Type e{ty.kind, 16};
          put(convert(A(1), e, in.type2, in.round, in.sat, in.ftz) << 16 |
              convert(A(2), e, in.type2, in.round, in.sat, in.ftz));
        } else {
          put(convert(A(1), ty, in.type2, in.round, in.sat, in.ftz));
        }
      }
      break;
    case Op::kAdd:
    case Op::kSub:
      EACH_LANE {
        if (fl) {
          if (in.op == Op::kAdd)
            f2([](auto a, auto b) { return a + b; });
          else
            f2([](auto a, auto b) { return a - b; });
        } else {
          uint64_t a = A(1), b = A(2);
          if (in.sat && ty.kind == Kind::kS && ty.bits == 32) {
            int64_t x = sext(a, 32) + (in.op == Op::kAdd ? sext(b, 32) : -sext(b, 32));
            put(static_cast<uint64_t>(std::clamp<int64_t>(x, INT32_MIN, INT32_MAX)));
          } else {
            put(in.op == Op::kAdd ? a + b : a - b);
          }
        }
      }
      break;
    case Op::kMul:
      EACH_LANE {
        if (fl)
          f2([](auto a, auto b) { return a * b; });
        else
          put(A(1) * A(2));
      }
      break;
    case Op::kMulHi:
      EACH_LANE {
        put(mul_hi(A(1), A(2), ty));
      }
      break;
    case Op::kMulWide:
      EACH_LANE {
        set(in.ops[0], t, mul_wide(A(1), A(2), ty),
            Type{ty.kind, static_cast<uint8_t>(ty.bits * 2)});
      }
      break;
    case Op::kMad:
    case Op::kFma:
      EACH_LANE {
        if (fl) {
          if (f64) {
            double x = rounded(in.round,
                               [&] { return std::fma(as_f64(A(1)), as_f64(A(2)), as_f64(A(3))); });
            put(f64_bits(in.sat ? saturate(x) : x));
          } else {
            float a = as_f32(A(1)), b = as_f32(A(2)), c = as_f32(A(3));
            if (in.ftz) a = ftz32(a), b = ftz32(b), c = ftz32(c);
            float x = rounded(in.round, [&] { return std::fma(a, b, c); });
            if (in.ftz) x = ftz32(x);
            put(f32_bits(in.sat ? static_cast<float>(saturate(x)) : x));
          }
        } else {
          put(A(1) * A(2) + A(3));
        }
      }
      break;
    case Op::kMadHi:
      EACH_LANE {
        put(mul_hi(A(1), A(2), ty) + A(3));
      }
      break;
    case Op::kMadWide:
      EACH_LANE {
        set(in.ops[0], t, mul_wide(A(1), A(2), ty) + A(3),
            Type{ty.kind, static_cast<uint8_t>(ty.bits * 2)});
      }
      break;
    case Op::kDiv:
    case Op::kRem:
      EACH_LANE {
        if (fl)
          f2([](auto a, auto b) { return a / b; });
        else
          put(div_int(A(1), A(2), ty, in.op == Op::kRem));
      }
      break;
    case Op::kMin:
    case Op::kMax:
      EACH_LANE {
        if (fl && in.nan &&
            (f64 ? std::isnan(as_f64(A(1))) || std::isnan(as_f64(A(2)))
                 : std::isnan(as_f32(A(1))) || std::isnan(as_f32(A(2))))) {
          put(f64 ? 0x7fffffffffffffffull : 0x7fffffffull);  // .NaN: the canonical NaN
        } else if (fl) {
          const bool mn = in.op == Op::kMin;
          f2([mn](auto a, auto b) { return mn ? std::fmin(a, b) : std::fmax(a, b); });
        } else {
          const uint64_t a = A(1), b = A(2);
          const bool lt = compare(Cmp::kLt, a, b, ty);
          put((in.op == Op::kMin) == lt ? a : b);
        }
      }
      break;
    case Op::kAbs:
      EACH_LANE {
        if (fl)
          f1([](double a) { return std::fabs(a); });
        else {
          int64_t x = sext(A(1), ty.bits);
          put(static_cast<uint64_t>(x < 0 ? -x : x));
        }
      }
      break;
    case Op::kNeg:
      EACH_LANE {
        if (fl)
          put(A(1) ^ (f64 ? 1ull << 63 : 0x80000000ull));
        else
          put(~A(1) + 1);
      }
      break;
    case Op::kAnd:
      EACH_LANE {
        put(A(1) & A(2));
      }
      break;
    case Op::kOr:
      EACH_LANE {
        put(A(1) | A(2));
      }
      break;
    case Op::kXor:
      EACH_LANE {
        put(A(1) ^ A(2));
      }
      break;
    case Op::kNot:
      EACH_LANE {
        put(ty.kind == Kind::kPred ? (~A(1) & 1) : ~A(1));
      }
      break;
    case Op::kCnot:
      EACH_LANE {
        put((A(1) & mask_of(ty.bits)) == 0);
      }
      break;
    case Op::kShl: {
      EACH_LANE {
        const uint64_t s = A(2) & 0xffffffffu;
        put(s >= ty.bits ? 0 : A(1) << s);
      }
      break;
    }
    case Op::kShr: {
      EACH_LANE {
        const uint64_t s = std::min<uint64_t>(A(2) & 0xffffffffu, ty.bits);
        if (ty.kind == Kind::kS) {
          const int64_t x = sext(A(1), ty.bits);
          put(static_cast<uint64_t>(s >= 64 ? (x < 0 ? -1 : 0) : x >> std::min<uint64_t>(s, 63)));
        } else {
          put(s >= ty.bits ? 0 : (A(1) & mask_of(ty.bits)) >> s);
        }
      }
      break;
    }
    case Op::kSetp: {
      EACH_LANE {
        const size_t a = in.pair ? 2 : 1;
        bool p, q;
        if (ty.is_half()) {  // .f16x2: p from the lower elements, q from the upper
          p = half_compare(in.cmp, A(a), A(a + 1), ty, 0);
          q = ty.lanes == 2 ? half_compare(in.cmp, A(a), A(a + 1), ty, 1) : !p;
        } else {
          p = compare(in.cmp, A(a), A(a + 1), ty);
          q = !p;
        }
        if (in.bool_op != BoolOp::kNone) {
          const bool c = A(a + 2) & 1;
          auto comb = [&](bool x) {
            return in.bool_op == BoolOp::kAnd  ? x && c
                   : in.bool_op == BoolOp::kOr ? x || c
                                               : x != c;
          };
          p = comb(p);
          q = comb(q);
        }
        set(in.ops[0], t, p, Type{Kind::kPred, 1});
        if (in.pair) set(in.ops[1], t, q, Type{Kind::kPred, 1});
      }
      break;
    }
    case Op::kSelp:
      EACH_LANE {
        put((A(3) & 1) ? A(1) : A(2));
      }
      break;
    case Op::kSet: {  // in.type: the compared type; in.type2: the destination's
      EACH_LANE {
        const Type d = in.type2;
        const uint32_t lanes = ty.lanes, eb = d.bits / lanes;
        const uint64_t one = d.kind == Kind::kF    ? (eb == 64 ? f64_bits(1.0) : f32_bits(1.0f))
                             : d.kind == Kind::kH  ? 0x3c00
                             : d.kind == Kind::kBf ? 0x3f80
                                                   : mask_of(eb);
        uint64_t v = 0;
        for (uint32_t l = 0; l < lanes; ++l) {
          bool p = ty.is_half() ? half_compare(in.cmp, A(1), A(2), ty, l)
                                : compare(in.cmp, A(1), A(2), ty);
          if (in.bool_op != BoolOp::kNone) {
            const bool c = A(3) & 1;
            p = in.bool_op == BoolOp::kAnd ? p && c : in.bool_op == BoolOp::kOr ? p || c : p != c;
          }
          if (p) v |= one << (eb * l);
        }
        set(in.ops[0], t, v, d);
      }
      break;
    }
    case Op::kCall:  // vprintf (other calls moved the group above)
      EACH_LANE {
        pc_[t] = pc;
        if (!device_printf(t, K.calls[static_cast<size_t>(in.ops[0].imm)])) {
          return false;
        }
      }
      break;
    case Op::kFence:
    case Op::kNanosleep:
      break;
    case Op::kRcp:
      EACH_LANE {
        f1([](double a) { return 1.0 / a; });
      }
      break;
    case Op::kSqrt:
      EACH_LANE {
        f1([](double a) { return std::sqrt(a); });
      }
      break;
    case Op::kRsqrt:
      EACH_LANE {
        f1([](double a) { return 1.0 / std::sqrt(a); });
      }
      break;
    case Op::kEx2:
      EACH_LANE {
        f1([](double a) { return std::exp2(a); });
      }
      break;
    case Op::kLg2:
      EACH_LANE {
        f1([](double a) { return std::log2(a); });
      }
      break;
    case Op::kSin:
      EACH_LANE {
        f1([](double a) { return std::sin(a); });
      }
      break;
    case Op::kCos:
      EACH_LANE {
        f1([](double a) { return std::cos(a); });
      }
      break;
    case Op::kCopysign:
      EACH_LANE {
        f2([](auto a, auto b) { return std::copysign(b, a); });
      }
      break;
    case Op::kPopc:
      EACH_LANE {
        set(in.ops[0], t, static_cast<uint64_t>(__builtin_popcountll(A(1) & mask_of(ty.bits))),
            Type{Kind::kU, 32});
      }
      break;
    case Op::kClz: {
      EACH_LANE {
        const uint64_t x = A(1) & mask_of(ty.bits);
        const uint64_t z = x == 0 ? ty.bits : __builtin_clzll(x) - (64 - ty.bits);
        set(in.ops[0], t, z, Type{Kind::kU, 32});
      }
      break;
    }
    case Op::kBrev: {
      EACH_LANE {
        uint64_t x = A(1), y = 0;
        for (uint32_t i = 0; i < ty.bits; ++i) y |= ((x >> i) & 1) << (ty.bits - 1 - i);
        put(y);
      }
      break;
    }
    case Op::kBfe: {
      EACH_LANE {
        const uint64_t a = A(1);
        const uint32_t pos = A(2) & 0xff, len = A(3) & 0xff;
        uint64_t v = pos >= ty.bits || len == 0 ? 0 : (a & mask_of(ty.bits)) >> pos;
        if (len < 64) v &= mask_of(len);
        if (ty.kind == Kind::kS && len > 0) {
          const uint32_t top = std::min<uint32_t>(pos + len - 1, ty.bits - 1);
          const bool sign = (a >> top) & 1;
          if (sign && len < 64) v |= ~mask_of(len);
          if (len == 0) v = 0;
        }
        put(v);
      }
      break;
    }
    case Op::kBfi: {
      EACH_LANE {
        const uint64_t a = A(1), b = A(2);
        const uint32_t pos = A(3) & 0xff, len = A(4) & 0xff;
        if (pos >= ty.bits || len == 0) {
          put(b);
        } else {
          const uint64_t m = (len >= 64 ? ~0ull : mask_of(len)) << pos;
          put((b & ~m) | ((a << pos) & m));
        }
      }
      break;
    }
    case Op::kPrmt: {
      EACH_LANE {
        const uint64_t a = A(1) & 0xffffffffu, b = A(2) & 0xffffffffu;
        const uint32_t c = static_cast<uint32_t>(A(3));
        const uint64_t bytes = a | (b << 32);
        uint32_t d = 0;
        for (int i = 0; i < 4; ++i) {
          const uint32_t sel = (c >> (4 * i)) & 0xf;
          uint32_t byte = (bytes >> (8 * (sel & 7))) & 0xff;
          if (sel & 8) byte = (byte & 0x80) ? 0xff : 0;  // replicate the sign
          d |= byte << (8 * i);
        }
        put(d);
      }
      break;
    }
    case Op::kLop3: {
      EACH_LANE {
        const uint64_t a = A(1), b = A(2), c = A(3);
        const uint32_t lut = static_cast<uint32_t>(A(4)) & 0xff;
        uint64_t d = 0;
        for (int i = 0; i < 8; ++i) {
          if (!((lut >> i) & 1)) continue;
          const uint64_t ma = (i & 4) ? a : ~a, mb = (i & 2) ? b : ~b, mc = (i & 1) ? c : ~c;
          d |= ma & mb & mc;
        }
        put(d);
      }
      break;
    }
    case Op::kShf: {
      EACH_LANE {
        const uint64_t lo = A(1) & 0xffffffffu, hi = A(2) & 0xffffffffu;
        uint32_t s = static_cast<uint32_t>(A(3));
        s = in.clamp ? std::min<uint32_t>(s, 32) : s & 31;
        const uint64_t both = lo | (hi << 32);
        put(in.shift_left ? (both << s) >> 32 : both >> s);
      }
      break;
    }
    case Op::kSad: {
      EACH_LANE {
        const bool lt = compare(Cmp::kLt, A(1), A(2), ty);
        put((lt ? A(2) - A(1) : A(1) - A(2)) + A(3));
      }
      break;
    }
    case Op::kTanh:
      EACH_LANE {
        f1([](double a) { return std::tanh(a); });
      }
      break;
    case Op::kBfind: {  // the most significant non-sign bit; all ones when there is none
      EACH_LANE {
        uint64_t x = A(1) & mask_of(ty.bits);
        if (ty.kind == Kind::kS && sext(x, ty.bits) < 0) x = ~x & mask_of(ty.bits);
        uint64_t pos = x == 0 ? 0xffffffffu : 63 - __builtin_clzll(x);
        if (in.shiftamt && x != 0) pos = ty.bits - 1 - pos;
        set(in.ops[0], t, pos, Type{Kind::kU, 32});
      }
      break;
    }
    case Op::kDp4a:
    case Op::kDp2a: {  // in.type: a's element type; in.type2: b's
      EACH_LANE {
        const uint64_t a = A(1), b = A(2);
        int64_t acc = in.type.is_signed() || in.type2.is_signed()
                          ? sext(A(3), 32)
                          : static_cast<int64_t>(A(3) & 0xffffffffu);
        auto elem = [](uint64_t v, uint32_t i, uint32_t bits, bool sig) {
          const uint64_t e = (v >> (i * bits)) & mask_of(bits);
          return sig ? sext(e, bits) : static_cast<int64_t>(e);
        };
        if (in.op == Op::kDp4a) {
          for (uint32_t i = 0; i < 4; ++i)
            acc += elem(a, i, 8, in.type.is_signed()) * elem(b, i, 8, in.type2.is_signed());
        } else {  // dp2a.lo uses b's bytes 0 and 1, .hi its bytes 2 and 3
          for (uint32_t i = 0; i < 2; ++i)
            acc += elem(a, i, 16, in.type.is_signed()) *
                   elem(b, i + (in.hi ? 2 : 0), 8, in.type2.is_signed());
        }
        set(in.ops[0], t, static_cast<uint64_t>(acc), Type{Kind::kB, 32});
      }
      break;
    }
    case Op::kGridDep:     // no programmatic dependent launch: nothing to wait for
    case Op::kAsyncGroup:  // cp.async copies complete at issue
      break;
    case Op::kCpAsync:
      EACH_LANE {
        pc_[t] = pc;
        if (!copy_async(in, t)) return false;
      }
      break;
    case Op::kTestp: {
      EACH_LANE {
        const double x = f64 ? as_f64(A(1)) : as_f32(A(1));
        const int c = std::fpclassify(x);
        const bool r = in.testp == 0   ? std::isfinite(x)
                       : in.testp == 1 ? std::isinf(x)
                       : in.testp == 2 ? !std::isnan(x)
                       : in.testp == 3 ? std::isnan(x)
                       : in.testp == 4 ? c == FP_NORMAL
                                       : c == FP_SUBNORMAL;
        set(in.ops[0], t, r, Type{Kind::kPred, 1});
      }
      break;
    }
    default:
      break;
  }
#undef EACH_LANE
  return true;
}

}  // namespace rgpu::server::ptx::detail
