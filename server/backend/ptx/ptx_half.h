// server/backend/ptx/ptx_half.h — the 16-bit and tensor float formats of PTX: .f16 (IEEE
// binary16), .bf16 (bfloat16), their .x2 pairs, and .tf32.
//
// Contract: pure functions on bit patterns. A .f16x2/.bf16x2 value is two 16-bit elements in
// 32 bits, the first (lower) in bits 0-15. Every result is the exact value rounded once to the
// destination format with the instruction's rounding mode (nearest even by default; .rz,
// .rm, .rp; .rna for tf32), as PTX specifies: wider intermediates round to odd, so a double
// rounding never changes a result. NaN results are the canonical NaN (0x7fff). .ftz flushes
// subnormal inputs and results to a signed zero; .sat clamps to [0, 1] (NaN to 0).
//
// round_to_format() is the one rounding routine; convert_float16() is cvt where either side is
// a 16-bit or tf32 format; half_arith() is add/sub/mul/fma/min/max/neg/abs on .f16/.bf16
// (and element-wise on the pairs); half_compare() is setp on one element.
#pragma once

#include <cstdint>

#include "server/backend/ptx/ptx_ir.h"

namespace rgpu::server::ptx {

// A binary floating-point format: significand bits (with the hidden one) and exponent range.
struct FloatFormat {
  int precision;  // 11 for f16 and tf32, 8 for bf16
  int emin;       // the smallest normal exponent
  int emax;       // the largest exponent
};
inline constexpr FloatFormat kF16{11, -14, 15};
inline constexpr FloatFormat kBf16{8, -126, 127};
inline constexpr FloatFormat kTf32Format{11, -126, 127};

// x rounded to `fmt` under `r` (kDefault and kRn: nearest even; kRna: nearest, ties away),
// returned as a double (infinities when it overflows, as the mode says).
double round_to_format(double x, FloatFormat fmt, Round r);

// Bit patterns of one 16-bit element.
double f16_value(uint16_t bits);
double bf16_value(uint16_t bits);
uint16_t f16_bits_of(double exact_in_f16);  // x already representable in f16 (or inf/NaN)
uint16_t bf16_bits_of(double exact_in_bf16);

// One element of a 16-bit-format type `t` (kH or kBf): its value, and a value rounded into it.
double element_value(uint64_t v, Type t, uint32_t lane);
uint16_t element_bits(double x, Type t, Round r);

// cvt.dtype.stype where d or s is .f16, .bf16 or .tf32 (single elements; the .x2 packing of
// `cvt.rn.f16x2.f32 d, a, b` is two calls).
uint64_t convert_float16(uint64_t v, Type d, Type s, Round r, bool sat, bool ftz);

// The ops half_arith() computes.
inline bool is_half_arith(Op op) {
  return op == Op::kAdd || op == Op::kSub || op == Op::kMul || op == Op::kFma || op == Op::kMin ||
         op == Op::kMax || op == Op::kNeg || op == Op::kAbs;
}

// add/sub/mul/fma/min/max/neg/abs of .f16/.bf16/.f16x2/.bf16x2 (a, b, c as the op reads them).
uint64_t half_arith(Op op, Type t, Round r, bool ftz, bool sat, uint64_t a, uint64_t b, uint64_t c);

// setp's comparison of element `lane` of a and b.
bool half_compare(Cmp c, uint64_t a, uint64_t b, Type t, uint32_t lane);

}  // namespace rgpu::server::ptx
