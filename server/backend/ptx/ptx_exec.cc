// server/backend/ptx/ptx_exec.cc — see ptx_exec.h: execute() and the parts of a Block
// (ptx_block.h) that run it, make calls, check memory and do atomics.
#include "server/backend/ptx/ptx_exec.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "server/backend/ptx/ptx_block.h"
#include "server/backend/ptx/ptx_half.h"
#include "server/backend/ptx/ptx_values.h"

namespace rgpu::server::ptx {
namespace detail {

namespace {
std::mutex narrow_atomics_;
}  // namespace

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}
const char* space_name(Space s) {
  switch (s) {
    case Space::kGlobal:
      return "global";
    case Space::kShared:
      return "shared";
    case Space::kLocal:
      return "local";
    case Space::kParam:
      return "param";
    case Space::kConst:
      return "const";
    default:
      return "generic";
  }
}

Status Block::run(const uint32_t ctaid[3], uint64_t* executed) {
  std::memcpy(ctaid_, ctaid, sizeof ctaid_);
  regs_.assign(static_cast<size_t>(threads_) * k_.slots, 0);
  local_.assign(static_cast<size_t>(threads_) * k_.local_bytes, 0);
  scratch_.assign(static_cast<size_t>(threads_) * k_.scratch_bytes, 0);
  stacks_.assign(threads_, {});
  frame_bytes_ = 0;
  shared_.assign(shared_total_, 0);
  pc_.assign(threads_, 0);
  state_.assign(threads_, kRunning);
  const uint32_t warps = (threads_ + 31) / 32;
  for (;;) {
    for (uint32_t w = 0; w < warps; ++w) {
      for (;;) {
        const uint32_t lo = w * 32, hi = std::min(threads_, lo + 32);
        if (!step_warp(lo, hi)) return fault_;
        // A warp collective runs once every live lane of the warp is at the same one.
        int64_t at = -1;
        const Kernel* at_fn = nullptr;
        bool waiting = false, barrier = false;
        for (uint32_t t = lo; t < hi; ++t) {
          if (state_[t] == kAtWarpOp) {
            if (at >= 0 && (at != pc_[t] || at_fn != &fn(t)))
              return unsupported(t, "lanes of one warp at different warp collectives (lines " +
                                        std::to_string(at_fn->code[at].line) + " and " +
                                        std::to_string(fn(t).code[pc_[t]].line) + ")");
            at = pc_[t];
            at_fn = &fn(t);
            waiting = true;
          }
          barrier |= state_[t] == kAtBarrier;
        }
        if (!waiting) break;
        if (barrier)
          return unsupported(lo,
                             "a warp collective while other lanes of its warp wait at a "
                             "barrier");
        if (!warp_op(lo, hi, static_cast<uint32_t>(at))) return fault_;
      }
    }
    // bar.red: every waiting thread gets the reduction of their predicates.
    for (uint32_t t = 0; t < threads_; ++t) {
      if (state_[t] != kAtBarrier) continue;
      const Inst& in = fn(t).code[pc_[t]];
      if (!in.reduce) break;
      uint64_t count = 0, all = 1, some = 0;
      for (uint32_t u = 0; u < threads_; ++u) {
        if (state_[u] != kAtBarrier) continue;
        if (pc_[u] != pc_[t] || &fn(u) != &fn(t))
          return unsupported(u, "threads at different barriers (bar.red)");
        const uint64_t p = value(in.ops[2], u) & 1;
        count += p;
        all &= p;
        some |= p;
      }
      const uint64_t r = in.atom == AtomOp::kAdd ? count : in.atom == AtomOp::kAnd ? all : some;
      for (uint32_t u = 0; u < threads_; ++u)
        if (state_[u] == kAtBarrier) set(in.ops[0], u, r, in.type);
      break;
    }
    bool any = false;
    for (uint32_t t = 0; t < threads_; ++t)
      if (state_[t] == kAtBarrier) {
        state_[t] = kRunning;
        ++pc_[t];
        any = true;
      }
    if (!any) break;
  }
  *executed += executed_;
  executed_ = 0;
  return Status::Ok();
}

bool Block::enter(uint32_t t, uint32_t pc, const CallSite& site) {
  const Kernel& callee = (*mem_.functions)[static_cast<size_t>(site.callee)];
  if (stacks_[t].size() >= kMaxCallDepth)
    return fail(t, CUDA_ERROR_LAUNCH_FAILED,
                "call stack overflow: deeper than " + std::to_string(kMaxCallDepth) +
                    " calls (the session's context is lost, as on a GPU)");
  const uint64_t bytes = static_cast<uint64_t>(callee.slots) * 8 + callee.param_bytes +
                         callee.scratch_bytes + callee.local_bytes;
  if (frame_bytes_ + bytes > kMaxBlockState)
    return fail(t, CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, "call frames exceed the sim's limit");
  uint8_t* from = scratch_of(t);
  Frame f{&callee,
          &site,
          pc,
          std::vector<uint64_t>(callee.slots),
          std::vector<uint8_t>(callee.param_bytes),
          std::vector<uint8_t>(callee.scratch_bytes),
          std::vector<uint8_t>(callee.local_bytes)};
  for (size_t i = 0; i < site.arg_offsets.size() && i < callee.params.size(); ++i) {
    const Param& p = callee.params[i];
    std::memcpy(f.params.data() + p.offset, from + site.arg_offsets[i],
                std::min(p.size, site.arg_bytes[i]));
  }
  frame_bytes_ += bytes;
  stacks_[t].push_back(std::move(f));
  pc_[t] = 0;
  return true;
}

uint32_t Block::leave(uint32_t t) {
  Frame& f = stacks_[t].back();
  const uint32_t back_to = f.return_pc + 1;
  const CallSite& site = *f.site;
  if (site.ret_offset >= 0 && !f.fn->returns.empty()) {
    const Param& r = f.fn->returns[0];
    const size_t depth = stacks_[t].size();  // the caller's scratch: its frame's, or the kernel's
    uint8_t* to = depth >= 2 ? stacks_[t][depth - 2].scratch.data()
                             : scratch_.data() + static_cast<size_t>(t) * k_.scratch_bytes;
    std::memcpy(to + site.ret_offset, f.params.data() + r.offset, std::min(r.size, site.ret_bytes));
  }
  frame_bytes_ -=
      static_cast<uint64_t>(f.fn->slots) * 8 + f.params.size() + f.scratch.size() + f.local.size();
  stacks_[t].pop_back();
  return back_to;
}

uint64_t Block::special(Special s, uint32_t t) const {
  const uint32_t lane = t % 32;
  switch (s) {
    case Special::kTidX:
      return tid(t, 0);
    case Special::kTidY:
      return tid(t, 1);
    case Special::kTidZ:
      return tid(t, 2);
    case Special::kNtidX:
      return shape_.block[0];
    case Special::kNtidY:
      return shape_.block[1];
    case Special::kNtidZ:
      return shape_.block[2];
    case Special::kCtaidX:
      return ctaid_[0];
    case Special::kCtaidY:
      return ctaid_[1];
    case Special::kCtaidZ:
      return ctaid_[2];
    case Special::kNctaidX:
      return shape_.grid[0];
    case Special::kNctaidY:
      return shape_.grid[1];
    case Special::kNctaidZ:
      return shape_.grid[2];
    case Special::kLaneid:
      return lane;
    case Special::kWarpid:
      return t / 32;
    case Special::kNwarpid:
      return 64;
    case Special::kSmid:
      return 0;
    case Special::kNsmid:
      return mem_.sm_count;
    case Special::kGridid:
      return 1;
    case Special::kWarpsize:
      return 32;
    case Special::kClock:
    case Special::kClock64:
    case Special::kGlobaltimer:
      return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    case Special::kLanemaskEq:
      return 1u << lane;
    case Special::kLanemaskLt:
      return (1u << lane) - 1;
    case Special::kLanemaskLe:
      return lane == 31 ? 0xffffffffu : (2u << lane) - 1;
    case Special::kLanemaskGt:
      return lane == 31 ? 0u : ~((2u << lane) - 1);
    case Special::kLanemaskGe:
      return ~((1u << lane) - 1);
    case Special::kDynamicSmemSize:
      return shape_.dynamic_shared;
    case Special::kTotalSmemSize:
      return shared_total_;
  }
  return 0;
}

bool Block::fail(uint32_t t, CUresult code, const std::string& what) {
  const Kernel& f = fn(t);
  const Inst& in = f.code[std::min<size_t>(pc_[t], f.code.size() - 1)];
  fault_ = Status::Err(
      code, (f.is_func ? "function " + f.name + " (called from kernel " + k_.name + ")"
                       : "kernel " + k_.name) +
                ", PTX line " + std::to_string(in.line) + " (" + op_name(in.op) + "): " + what);
  return false;
}

Status Block::unsupported(uint32_t t, const std::string& what) {
  fail(t, CUDA_ERROR_NOT_SUPPORTED, what + " is not supported by the sim executor yet");
  return fault_;
}

uint8_t* Block::resolve(uint32_t t, Space space, uint64_t addr, uint32_t bytes, uint32_t align) {
  if (space == Space::kGeneric) {
    if (addr - kSharedWindow < kWindowSize) {
      space = Space::kShared;
      addr -= kSharedWindow;
    } else if (addr - kLocalWindow < kWindowSize) {
      space = Space::kLocal;
      addr -= kLocalWindow;
    } else if (addr - kParamWindow < kWindowSize) {
      space = Space::kParam;
      addr -= kParamWindow;
    } else {
      space = Space::kGlobal;
    }
  }
  if (align == 0) align = bytes;
  if (align > 1 && addr % align != 0) {
    fail(t, CUDA_ERROR_MISALIGNED_ADDRESS,
         std::string(space_name(space)) + " access of " + std::to_string(bytes) + " bytes at " +
             hex(addr) + " is misaligned");
    return nullptr;
  }
  auto outside = [&](uint64_t limit) {
    fail(t, CUDA_ERROR_ILLEGAL_ADDRESS,
         std::string(space_name(space)) + " access of " + std::to_string(bytes) + " bytes at " +
             hex(addr) + " is outside its " + std::to_string(limit) +
             " bytes (an illegal address: the session's context is lost, as on a GPU)");
    return nullptr;
  };
  switch (space) {
    case Space::kShared:
      if (addr > shared_total_ || bytes > shared_total_ - addr) return outside(shared_total_);
      return shared_.data() + addr;
    case Space::kLocal: {
      const size_t depth = addr >> 32;
      const uint64_t off = addr & 0xffffffffu;
      if (depth > stacks_[t].size()) {
        fail(t, CUDA_ERROR_ILLEGAL_ADDRESS,
             "local access at " + hex(addr) + " names a frame that has returned");
        return nullptr;
      }
      uint32_t size = 0;
      uint8_t* base = local_at(t, depth, &size);
      if (off > size || bytes > size - off) return outside(size);
      return base + off;
    }
    case Space::kParam: {
      if (addr >= kScratchBase) {  // a call site's .param variable
        const uint64_t off = addr - kScratchBase;
        const uint64_t size =
            stacks_[t].empty() ? k_.scratch_bytes : stacks_[t].back().scratch.size();
        if (off > size || bytes > size - off) return outside(size);
        return scratch_of(t) + off;
      }
      if (!stacks_[t].empty()) {  // a callee's parameters and returns
        std::vector<uint8_t>& pf = stacks_[t].back().params;
        if (addr > pf.size() || bytes > pf.size() - addr) return outside(pf.size());
        return pf.data() + addr;
      }
      if (addr > param_bytes_ || bytes > param_bytes_ - addr) return outside(param_bytes_);
      return const_cast<uint8_t*>(params_) + addr;
    }
    default: {
      if (addr - hit_lo_ < hit_size_ && bytes <= hit_size_ - (addr - hit_lo_))
        return reinterpret_cast<uint8_t*>(addr);
      auto it = mem_.allocs->upper_bound(addr);
      if (it != mem_.allocs->begin()) {
        --it;
        if (addr - it->first < it->second && bytes <= it->second - (addr - it->first)) {
          hit_lo_ = it->first;
          hit_size_ = it->second;
          return reinterpret_cast<uint8_t*>(addr);
        }
      }
      fail(t, CUDA_ERROR_ILLEGAL_ADDRESS,
           std::string(space_name(space)) + " access of " + std::to_string(bytes) + " bytes at " +
               hex(addr) +
               " is outside the session's memory (an illegal address: the session's context "
               "is lost, as on a GPU)");
      return nullptr;
    }
  }
}

bool Block::load_store(const Inst& in, uint32_t t) {
  const bool load = in.op == Op::kLd;
  const Operand& data = load ? in.ops[0] : in.ops[1];
  const Operand& where = load ? in.ops[1] : in.ops[0];
  const uint32_t eb = in.type.bits == 1 ? 1 : in.type.bytes();
  const uint32_t n = in.vec;
  uint8_t* p = resolve(t, in.space, address(where, t), eb * n);
  if (p == nullptr) return false;
  for (uint32_t i = 0; i < n; ++i) {
    const int32_t slot = data.kind == Operand::kVec ? data.vec[i] : data.reg;
    if (load) {
      uint64_t v = 0;
      std::memcpy(&v, p + i * eb, eb);
      if (slot >= 0 && data.kind != Operand::kSink) R(t)[slot] = store(v, in.type);
    } else {
      uint64_t v = data.kind == Operand::kVec ? (slot >= 0 ? R(t)[slot] : 0) : value(data, t);
      std::memcpy(p + i * eb, &v, eb);
    }
  }
  return true;
}

// cp.async: the copy is made at issue (a GPU may complete it any time before the wait, so
// this is one of the orders it allows). src-size bytes are read, the rest of cp-size zeroed.
bool Block::copy_async(const Inst& in, uint32_t t) {
  const uint32_t n = static_cast<uint32_t>(in.ops[2].imm);
  uint64_t src_bytes = n;
  if (in.cp_src == 1) src_bytes = value(in.ops[3], t) & 0xffffffffu;
  if (in.cp_src == 2 && (value(in.ops[3], t) & 1)) src_bytes = 0;  // ignore-src
  if (src_bytes > n)
    return fail(t, CUDA_ERROR_LAUNCH_FAILED,
                "cp.async reads " + std::to_string(src_bytes) + " source bytes into a " +
                    std::to_string(n) + "-byte copy");
  uint8_t* d = resolve(t, in.space, address(in.ops[0], t), n);
  if (d == nullptr) return false;
  uint8_t buf[16] = {};
  if (src_bytes > 0) {
    const uint8_t* s =
        resolve(t, Space::kGlobal, address(in.ops[1], t), static_cast<uint32_t>(src_bytes), n);
    if (s == nullptr) return false;
    std::memcpy(buf, s, src_bytes);
  }
  std::memcpy(d, buf, n);
  return true;
}

uint64_t Block::atomic_result(AtomOp op, Type ty, uint64_t old, uint64_t b, uint64_t c) {
  if (ty.is_half()) {  // .f16/.bf16 and their x2 pairs: add/min/max round once, as PTX does
    switch (op) {
      case AtomOp::kAdd:
        return half_arith(Op::kAdd, ty, Round::kRn, false, false, old, b, 0);
      case AtomOp::kMin:
        return half_arith(Op::kMin, ty, Round::kRn, false, false, old, b, 0);
      case AtomOp::kMax:
        return half_arith(Op::kMax, ty, Round::kRn, false, false, old, b, 0);
      case AtomOp::kExch:
        return b;
      default:  // the decoder refuses the rest for half types
        return old;
    }
  }
  switch (op) {
    case AtomOp::kAdd:
      return ty.is_float() ? (ty.bits == 64 ? f64_bits(as_f64(old) + as_f64(b))
                                            : f32_bits(as_f32(old) + as_f32(b)))
                           : old + b;
    case AtomOp::kMin:
    case AtomOp::kMax: {
      const bool lt = compare(Cmp::kLt, b, old, ty);
      return (op == AtomOp::kMin) == lt ? b : old;
    }
    case AtomOp::kInc:
      return (old & mask_of(ty.bits)) >= (b & mask_of(ty.bits)) ? 0 : old + 1;
    case AtomOp::kDec:
      return (old & mask_of(ty.bits)) == 0 || (old & mask_of(ty.bits)) > (b & mask_of(ty.bits))
                 ? b
                 : old - 1;
    case AtomOp::kAnd:
      return old & b;
    case AtomOp::kOr:
      return old | b;
    case AtomOp::kXor:
      return old ^ b;
    case AtomOp::kExch:
      return b;
    case AtomOp::kCas:
      return (old & mask_of(ty.bits)) == (b & mask_of(ty.bits)) ? c : old;
  }
  return old;
}

bool Block::atomic(const Inst& in, uint32_t t) {
  const bool red = in.op == Op::kRed;
  const Operand& where = red ? in.ops[0] : in.ops[1];
  const uint32_t nb = in.type.bytes();
  const uint64_t addr = address(where, t);
  uint8_t* p = resolve(t, in.space, addr, nb);
  if (p == nullptr) return false;
  const uint64_t b = value(red ? in.ops[1] : in.ops[2], t);
  const uint64_t c = !red && in.nops > 3 ? value(in.ops[3], t) : 0;
  const bool shared = p >= shared_.data() && p < shared_.data() + shared_.size();
  uint64_t old = 0;
  if (shared || (nb != 4 && nb != 8)) {
    std::lock_guard<std::mutex> lk(narrow_atomics_);  // 2-byte CAS: rare, kept simple
    std::memcpy(&old, p, nb);
    const uint64_t nv = atomic_result(in.atom, in.type, old, b, c);
    std::memcpy(p, &nv, nb);
  } else if (nb == 4) {
    auto* w = reinterpret_cast<uint32_t*>(p);
    uint32_t o = __atomic_load_n(w, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(
        w, &o, static_cast<uint32_t>(atomic_result(in.atom, in.type, o, b, c)), true,
        __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
    }
    old = o;
  } else {
    auto* w = reinterpret_cast<uint64_t*>(p);
    uint64_t o = __atomic_load_n(w, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(w, &o, atomic_result(in.atom, in.type, o, b, c), true,
                                        __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
    }
    old = o;
  }
  if (!red) set(in.ops[0], t, old, in.type);
  return true;
}

}  // namespace detail

using detail::Block;
using detail::kMaxBlockState;

Status execute(const Kernel& k, const LaunchShape& shape, const uint8_t* params,
               uint32_t param_bytes, const LaunchMemory& mem, uint64_t* executed) {
  if (param_bytes < k.param_bytes)
    return Status::Err(CUDA_ERROR_INVALID_VALUE,
                       "launch of " + k.name + " passes " + std::to_string(param_bytes) +
                           " parameter bytes, the kernel takes " + std::to_string(k.param_bytes));
  if (mem.symbol_addr.size() != k.symbols.size() || mem.allocs == nullptr)
    return Status::Err(CUDA_ERROR_INVALID_VALUE, "launch of " + k.name + " without its module");
  {
    Block probe(k, shape, params, param_bytes, mem);
    if (probe.state_bytes() > kMaxBlockState)
      return Status::Err(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES,
                         "launch of " + k.name + ": " + std::to_string(k.slots) +
                             " registers and " + std::to_string(k.local_bytes) +
                             " local bytes per thread are too many for its block on the sim");
  }
  const uint64_t blocks =
      static_cast<uint64_t>(shape.grid[0]) * shape.grid[1] * static_cast<uint64_t>(shape.grid[2]);
  const uint32_t workers =
      static_cast<uint32_t>(std::min<uint64_t>(std::max<uint32_t>(mem.threads, 1), blocks));
  // Blocks are handed out in order from one counter; the first fault stops every runner and
  // is the one reported.
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first;
  uint64_t total = 0;
  auto runner = [&] {
    Block b(k, shape, params, param_bytes, mem);
    uint64_t mine = 0;
    for (;;) {
      const uint64_t i = next.fetch_add(1);
      if (i >= blocks || failed.load(std::memory_order_relaxed)) break;
      const uint32_t ctaid[3] = {static_cast<uint32_t>(i % shape.grid[0]),
                                 static_cast<uint32_t>(i / shape.grid[0] % shape.grid[1]),
                                 static_cast<uint32_t>(i / shape.grid[0] / shape.grid[1])};
      Status st = b.run(ctaid, &mine);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lk(mu);
        if (!failed.exchange(true)) first = st;
        break;
      }
    }
    std::lock_guard<std::mutex> lk(mu);
    total += mine;
  };
  if (workers <= 1) {
    runner();
  } else {
    std::vector<std::thread> pool;
    for (uint32_t w = 1; w < workers; ++w) pool.emplace_back(runner);
    runner();
    for (auto& th : pool) th.join();
  }
  *executed += total;
  return failed ? first : Status::Ok();
}

}  // namespace rgpu::server::ptx
