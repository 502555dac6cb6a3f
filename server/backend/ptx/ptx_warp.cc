// server/backend/ptx/ptx_warp.cc — the warp collectives of a Block (ptx_block.h): shfl, vote,
// activemask, and the tensor-core mma / ldmatrix. Each runs once every live lane of the warp
// has reached it (Block::run), with every lane's registers at hand.
#include <cstring>

#include "server/backend/ptx/ptx_block.h"
#include "server/backend/ptx/ptx_half.h"
#include "server/backend/ptx/ptx_values.h"

namespace rgpu::server::ptx::detail {

bool Block::warp_op(uint32_t lo, uint32_t hi, uint32_t pc) {
  const Inst& in = fn(lo).code[pc];
  uint32_t live = 0;
  for (uint32_t t = lo; t < hi; ++t)
    if (state_[t] != kDone) live |= 1u << (t - lo);
  uint32_t arrived = 0;
  for (uint32_t t = lo; t < hi; ++t)
    if (state_[t] == kAtWarpOp) arrived |= 1u << (t - lo);
  if (in.op == Op::kShfl) {
    const size_t a = in.pair ? 2 : 1;
    uint64_t src[32] = {};
    for (uint32_t t = lo; t < hi; ++t)
      if (arrived >> (t - lo) & 1) src[t - lo] = value(in.ops[a], t);
    for (uint32_t t = lo; t < hi; ++t) {
      if (!(arrived >> (t - lo) & 1)) continue;
      const uint32_t lane = t - lo;
      const uint32_t b = static_cast<uint32_t>(value(in.ops[a + 1], t));
      const uint32_t c = static_cast<uint32_t>(value(in.ops[a + 2], t));
      const uint32_t clamp = c & 0x1f, seg = (c >> 8) & 0x1f;
      const uint32_t max_lane = (lane & seg) | (clamp & ~seg), min_lane = lane & seg;
      int64_t j = lane;
      bool ok = false;
      switch (in.shfl) {
        case ShflMode::kUp:
          j = static_cast<int64_t>(lane) - b;
          ok = j >= max_lane;
          break;
        case ShflMode::kDown:
          j = lane + b;
          ok = j <= max_lane;
          break;
        case ShflMode::kBfly:
          j = lane ^ b;
          ok = j <= max_lane;
          break;
        case ShflMode::kIdx:
          j = min_lane | (b & ~seg);
          ok = j <= max_lane;
          break;
      }
      if (!ok || j < 0 || j > 31 || !(arrived >> j & 1)) j = lane;
      set(in.ops[0], t, src[j], Type{Kind::kB, 32});
      if (in.pair) set(in.ops[1], t, ok, Type{Kind::kPred, 1});
    }
  } else if (in.op == Op::kVote) {
    uint32_t ballot = 0;
    for (uint32_t t = lo; t < hi; ++t)
      if ((arrived >> (t - lo) & 1) && (value(in.ops[1], t) & 1)) ballot |= 1u << (t - lo);
    for (uint32_t t = lo; t < hi; ++t) {
      if (!(arrived >> (t - lo) & 1)) continue;
      uint64_t r = 0;
      switch (in.vote) {
        case VoteMode::kAll:
          r = ballot == arrived;
          break;
        case VoteMode::kAny:
          r = ballot != 0;
          break;
        case VoteMode::kUni:
          r = ballot == 0 || ballot == arrived;
          break;
        case VoteMode::kBallot:
          r = ballot;
          break;
      }
      set(in.ops[0], t, r,
          in.vote == VoteMode::kBallot ? Type{Kind::kB, 32} : Type{Kind::kPred, 1});
    }
  } else if (in.op == Op::kMatch || in.op == Op::kRedux || in.op == Op::kElect) {
    collective(in, lo, hi, arrived);
  } else if (in.op == Op::kMma) {
    if (!mma(in, lo, hi, arrived)) return false;
  } else if (in.op == Op::kLdmatrix) {
    if (!ldmatrix(in, lo, hi, arrived)) return false;
  } else if (in.op == Op::kActivemask) {
    for (uint32_t t = lo; t < hi; ++t)
      if (arrived >> (t - lo) & 1) set(in.ops[0], t, live, Type{Kind::kB, 32});
  }
  for (uint32_t t = lo; t < hi; ++t)
    if (state_[t] == kAtWarpOp) {
      state_[t] = kRunning;
      ++pc_[t];
    }
  return true;
}

// match / redux / elect over the lanes that arrived and are in the membermask (the last
// operand): match.any gives each lane the lanes holding its value, match.all the group (and
// true) when all agree, else 0 (and false); redux each lane the reduction; elect the lowest
// lane's id, and true to that lane.
void Block::collective(const Inst& in, uint32_t lo, uint32_t hi, uint32_t arrived) {
  const uint32_t bits = in.type.bits ? in.type.bits : 32;
  uint64_t val[32] = {};
  if (in.op != Op::kElect)
    for (uint32_t t = lo; t < hi; ++t)
      if (arrived >> (t - lo) & 1) val[t - lo] = value(in.ops[in.pair ? 2 : 1], t) & mask_of(bits);
  for (uint32_t t = lo; t < hi; ++t) {
    if (!(arrived >> (t - lo) & 1)) continue;
    const uint32_t lane = t - lo;
    const uint32_t group = arrived & static_cast<uint32_t>(value(in.ops[in.nops - 1], t));
    if (in.op == Op::kElect) {
      const uint32_t leader = group ? static_cast<uint32_t>(__builtin_ctz(group)) : 32;
      set(in.ops[0], t, leader, Type{Kind::kB, 32});
      set(in.ops[1], t, lane == leader, Type{Kind::kPred, 1});
      continue;
    }
    if (in.op == Op::kMatch) {
      uint32_t same = 0;
      for (uint32_t u = 0; u < 32; ++u)
        if ((group >> u & 1) && val[u] == val[lane]) same |= 1u << u;
      if (in.vote == VoteMode::kAny) {
        set(in.ops[0], t, same, Type{Kind::kB, 32});
      } else {
        const bool all = same == group;
        set(in.ops[0], t, all ? group : 0, Type{Kind::kB, 32});
        if (in.pair) set(in.ops[1], t, all, Type{Kind::kPred, 1});
      }
      continue;
    }
    const bool sig = in.type.kind == Kind::kS;
    uint64_t acc = 0;
    bool first = true;
    for (uint32_t u = 0; u < 32; ++u) {
      if (!(group >> u & 1)) continue;
      const uint64_t x = val[u];
      if (first) {
        acc = x;
        first = false;
      } else if (in.atom == AtomOp::kAdd) {
        acc += x;
      } else if (in.atom == AtomOp::kAnd) {
        acc &= x;
      } else if (in.atom == AtomOp::kOr) {
        acc |= x;
      } else if (in.atom == AtomOp::kXor) {
        acc ^= x;
      } else {
        const bool less = sig ? sext(x, 32) < sext(acc, 32) : x < acc;
        if (less == (in.atom == AtomOp::kMin) && x != acc) acc = x;
      }
    }
    set(in.ops[0], t, acc, Type{Kind::kB, 32});
  }
}

namespace {

// Register slot i of a vector (or single-register) operand.
int32_t reg_of(const Operand& o, uint32_t i) {
  return o.kind == Operand::kVec ? o.vec[i] : o.reg;
}

}  // namespace

// mma.sync.aligned.m16n8k{8,16}.row.col: D (16x8) = A (16xK) * B (Kx8) + C, the fragments
// spread over the warp's lanes as the PTX ISA lays them out (g = lane / 4, q = lane % 4).
// Products are exact and summed in double, then rounded once to D's type (tensor cores sum
// at least this precisely, so results agree within D's rounding).
bool Block::mma(const Inst& in, uint32_t lo, uint32_t hi, uint32_t arrived) {
  if (hi - lo != 32 || arrived != 0xffffffffu)
    return fail(lo, CUDA_ERROR_LAUNCH_FAILED,
                "mma.sync needs all 32 lanes of the warp (the others have exited or diverged)");
  const uint32_t K = in.mma_shape;
  const Type ab = in.type2;
  const bool tf32 = ab.kind == Kind::kTf32;
  double A[16][16] = {}, B[16][8] = {}, C[16][8] = {};
  for (uint32_t lane = 0; lane < 32; ++lane) {
    const uint32_t t = lo + lane, g = lane >> 2, q = lane & 3;
    const uint64_t* regs = R(t);
    auto half_at = [&](const Operand& o, uint32_t i) {  // element i of 16-bit pairs
      return element_value(regs[reg_of(o, i / 2)], Type{ab.kind, 16}, i % 2);
    };
    if (tf32) {  // m16n8k8: a0 (g, q) a1 (g+8, q) a2 (g, q+4) a3 (g+8, q+4); b0 (q, g) b1 (q+4, g)
      auto tf = [&](const Operand& o, uint32_t i) {
        return static_cast<double>(as_f32(regs[reg_of(o, i)] & 0xffffe000u));
      };
      A[g][q] = tf(in.ops[1], 0);
      A[g + 8][q] = tf(in.ops[1], 1);
      A[g][q + 4] = tf(in.ops[1], 2);
      A[g + 8][q + 4] = tf(in.ops[1], 3);
      B[q][g] = tf(in.ops[2], 0);
      B[q + 4][g] = tf(in.ops[2], 1);
    } else {  // f16 / bf16: a_i at row g (+8 when i % 4 >= 2), col 2q + i % 2 (+8 when i >= 4)
      const uint32_t na = K == 16 ? 8 : 4, nb = K == 16 ? 4 : 2;
      for (uint32_t i = 0; i < na; ++i)
        A[g + ((i & 2) ? 8 : 0)][2 * q + (i & 1) + (i >= 4 ? 8 : 0)] = half_at(in.ops[1], i);
      for (uint32_t i = 0; i < nb; ++i)  // b_i at row 2q + i % 2 (+8 when i >= 2), col g
        B[2 * q + (i & 1) + (i >= 2 ? 8 : 0)][g] = half_at(in.ops[2], i);
    }
    for (uint32_t i = 0; i < 4; ++i) {  // c_i at row g (+8 when i >= 2), col 2q + i % 2
      const double c =
          in.type3.kind == Kind::kH
              ? element_value(regs[reg_of(in.ops[3], i / 2)], Type{Kind::kH, 16}, i % 2)
              : static_cast<double>(as_f32(regs[reg_of(in.ops[3], i)]));
      C[g + (i >= 2 ? 8 : 0)][2 * q + (i & 1)] = c;
    }
  }
  double D[16][8];
  for (uint32_t r = 0; r < 16; ++r)
    for (uint32_t c = 0; c < 8; ++c) {
      double acc = C[r][c];
      for (uint32_t k = 0; k < K; ++k) acc += A[r][k] * B[k][c];
      D[r][c] = acc;
    }
  for (uint32_t lane = 0; lane < 32; ++lane) {
    const uint32_t t = lo + lane, g = lane >> 2, q = lane & 3;
    uint64_t* regs = R(t);
    if (in.type.kind == Kind::kH) {
      for (uint32_t i = 0; i < 2; ++i) {
        const uint32_t row = g + (i ? 8 : 0);
        const uint64_t e0 = element_bits(D[row][2 * q], Type{Kind::kH, 16}, Round::kRn);
        const uint64_t e1 = element_bits(D[row][2 * q + 1], Type{Kind::kH, 16}, Round::kRn);
        regs[reg_of(in.ops[0], i)] = e0 | e1 << 16;
      }
    } else {
      for (uint32_t i = 0; i < 4; ++i)
        regs[reg_of(in.ops[0], i)] =
            f32_bits(static_cast<float>(D[g + (i >= 2 ? 8 : 0)][2 * q + (i & 1)]));
    }
  }
  return true;
}

// ldmatrix.sync.aligned.m8n8.xN{.trans}.shared.b16: lanes 8j..8j+7 give the row addresses of
// matrix j (16 bytes each, 16-byte aligned, checked like any shared access); lane t receives,
// in register j, the two 16-bit elements of matrix j at row t / 4, columns 2 (t % 4) and
// 2 (t % 4) + 1 (with .trans: rows 2 (t % 4) and 2 (t % 4) + 1 of column t / 4).
bool Block::ldmatrix(const Inst& in, uint32_t lo, uint32_t hi, uint32_t arrived) {
  if (hi - lo != 32 || arrived != 0xffffffffu)
    return fail(lo, CUDA_ERROR_LAUNCH_FAILED,
                "ldmatrix needs all 32 lanes of the warp (the others have exited or diverged)");
  uint16_t M[4][8][8];
  for (uint32_t j = 0; j < in.mma_shape; ++j)
    for (uint32_t r = 0; r < 8; ++r) {
      const uint32_t t = lo + 8 * j + r;
      const uint8_t* row = resolve(t, in.space, address(in.ops[1], t), 16);
      if (row == nullptr) return false;
      std::memcpy(M[j][r], row, 16);
    }
  for (uint32_t lane = 0; lane < 32; ++lane) {
    const uint32_t t = lo + lane, r = lane / 4, c = 2 * (lane % 4);
    for (uint32_t j = 0; j < in.mma_shape; ++j) {
      const uint64_t e0 = in.trans ? M[j][c][r] : M[j][r][c];
      const uint64_t e1 = in.trans ? M[j][c + 1][r] : M[j][r][c + 1];
      R(t)[reg_of(in.ops[0], j)] = e0 | e1 << 16;
    }
  }
  return true;
}

}  // namespace rgpu::server::ptx::detail
