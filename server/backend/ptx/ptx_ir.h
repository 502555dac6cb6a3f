// server/backend/ptx/ptx_ir.h — a PTX module decoded once for the sim's executor.
//
// Contract: parse_ptx_module() (ptx_parse.h) turns PTX text into a PtxModule: every kernel's
// instructions with operands resolved (registers to slots, labels to instruction indices,
// parameters to byte offsets, variables to their space and symbol), so execution
// (ptx_exec.h) never looks at text again. Anything the executor cannot run is refused while
// decoding, naming the opcode, the kernel and the PTX line: a module either decodes wholly or
// not at all. Values live in 64-bit slots; an instruction reads the low bits its type names
// and writes its result zero- or sign-extended to 64 bits.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rgpu::server::ptx {

// Scalar types: kind and width in bits. kF is .f32/.f64 only; the 16-bit formats are kH
// (.f16) and kBf (.bf16), two of them in 32 bits for .f16x2/.bf16x2 (lanes 2); kTf32 is .tf32
// in an f32's 32 bits (ptx_half.h).
enum class Kind : uint8_t { kNone, kU, kS, kB, kF, kPred, kH, kBf, kTf32 };
struct Type {
  Kind kind = Kind::kNone;
  uint8_t bits = 0;
  uint8_t lanes = 1;
  bool is_float() const { return kind == Kind::kF; }
  bool is_half() const { return kind == Kind::kH || kind == Kind::kBf; }
  bool is_float16ish() const { return is_half() || kind == Kind::kTf32; }
  bool is_signed() const { return kind == Kind::kS; }
  uint32_t bytes() const { return bits / 8; }
};

enum class Space : uint8_t { kGeneric, kGlobal, kShared, kLocal, kParam, kConst };

enum class Op : uint8_t {
  kMov,
  kLd,
  kSt,
  kCvta,
  kCvtaTo,
  kCvt,
  kAdd,
  kSub,
  kMul,
  kMad,
  kFma,
  kDiv,
  kRem,
  kMin,
  kMax,
  kAbs,
  kNeg,
  kAnd,
  kOr,
  kXor,
  kNot,
  kCnot,
  kShl,
  kShr,
  kSetp,
  kSelp,
  kBra,
  kRet,
  kExit,
  kBar,
  kTrap,
  kRcp,
  kSqrt,
  kRsqrt,
  kEx2,
  kLg2,
  kSin,
  kCos,
  kPopc,
  kClz,
  kBrev,
  kAtom,
  kRed,
  kFence,
  kShfl,
  kVote,
  kActivemask,
  kBfe,
  kBfi,
  kPrmt,
  kLop3,
  kShf,
  kCopysign,
  kMulHi,
  kMulWide,
  kMadHi,
  kMadWide,
  kSad,
  kNanosleep,
  kTestp,
  kCall,
  kSet,         // set.cmp.dtype.stype: 1.0 / all ones where the comparison holds
  kCpAsync,     // cp.async.{ca,cg}.shared.global: done at issue (ptx_exec.cc)
  kAsyncGroup,  // cp.async.commit_group / wait_group / wait_all: nothing left to wait for
  kMma,         // mma.sync.aligned.m16n8k{8,16}: a warp collective
  kLdmatrix,    // ldmatrix.sync.aligned: a warp collective
  kDp4a,
  kDp2a,
  kTanh,
  kBfind,
  kGridDep,  // griddepcontrol.wait / launch_dependents: no programmatic dependent launch
  kMatch,    // match.{any,all}.sync: a warp collective (Inst::vote holds any / all)
  kRedux,    // redux.sync.op: a warp collective (Inst::atom holds the op)
  kElect,    // elect.sync: a warp collective
};
const char* op_name(Op op);

enum class Cmp : uint8_t {
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kLo,
  kLs,
  kHi,
  kHs,
  kEqu,
  kNeu,
  kLtu,
  kLeu,
  kGtu,
  kGeu,
  kNum,
  kNan
};
enum class BoolOp : uint8_t { kNone, kAnd, kOr, kXor };
enum class Round : uint8_t { kDefault, kRn, kRz, kRm, kRp, kRni, kRzi, kRmi, kRpi, kRna };
enum class AtomOp : uint8_t { kAdd, kMin, kMax, kInc, kDec, kAnd, kOr, kXor, kExch, kCas };
enum class ShflMode : uint8_t { kUp, kDown, kBfly, kIdx };
enum class VoteMode : uint8_t { kAll, kAny, kUni, kBallot };

enum class Special : uint8_t {
  kTidX,
  kTidY,
  kTidZ,
  kNtidX,
  kNtidY,
  kNtidZ,
  kCtaidX,
  kCtaidY,
  kCtaidZ,
  kNctaidX,
  kNctaidY,
  kNctaidZ,
  kLaneid,
  kWarpid,
  kNwarpid,
  kSmid,
  kNsmid,
  kGridid,
  kClock,
  kClock64,
  kGlobaltimer,
  kLanemaskEq,
  kLanemaskLt,
  kLanemaskLe,
  kLanemaskGt,
  kLanemaskGe,
  kDynamicSmemSize,
  kTotalSmemSize,
  kWarpsize,
};

struct Operand {
  enum K : uint8_t { kNone, kReg, kImm, kSpecial, kAddr, kLabel, kVec, kSymbol, kSink };
  K kind = kNone;
  bool negate_pred = false;           // `!%p` in a predicate operand (setp's c, selp)
  int32_t reg = -1;                   // kReg, kAddr base (-1: none)
  uint64_t imm = 0;                   // kImm bits; kAddr offset; kLabel target; kSymbol index
  Special special{};                  // kSpecial
  int32_t symbol = -1;                // kAddr with a symbol base: index into Kernel::symbols
  uint8_t nvec = 0;                   // kVec
  int32_t vec[4] = {-1, -1, -1, -1};  // kVec slots (-1: `_` sink)
};

struct Inst {
  Op op = Op::kMov;
  Type type;   // the instruction's type (the destination's for cvt)
  Type type2;  // cvt's source type; set's destination type; mma's A and B type
  Type type3;  // mma's accumulator C type (in.type is D's)
  Space space = Space::kGeneric;
  Cmp cmp = Cmp::kEq;
  BoolOp bool_op = BoolOp::kNone;
  Round round = Round::kDefault;
  AtomOp atom = AtomOp::kAdd;
  ShflMode shfl = ShflMode::kIdx;
  VoteMode vote = VoteMode::kAll;
  bool sat = false, ftz = false, hi = false, wide = false, uni = false, to = false;
  bool shift_left = false, clamp = false;  // shf.l / shf.clamp
  bool warp = false;                       // bar.warp.sync
  bool shiftamt = false;                   // bfind.shiftamt
  bool trans = false;                      // ldmatrix.trans
  bool nan = false;                        // min/max.NaN: a NaN input gives NaN
  uint8_t testp = 0;   // testp: 0 finite, 1 infinite, 2 number, 3 notanumber, 4 normal, 5 subnormal
  uint8_t cp_src = 0;  // cp.async ops[3]: 0 none (copy all), 1 src-size, 2 ignore-src predicate
  uint8_t mma_shape = 0;  // mma: 8 or 16 (k of m16n8k8 / m16n8k16); ldmatrix: matrices (1/2/4)
  bool reduce = false;    // bar.red.{popc,and,or}: atom holds kAdd (popc), kAnd or kOr
  bool pair = false;      // setp/shfl with a second destination predicate (`%p|%q`)
  uint8_t vec = 1;        // .v2 / .v4
  int32_t pred = -1;      // guard predicate slot, -1: none
  bool pred_negate = false;
  uint8_t nops = 0;
  Operand ops[6];
  uint32_t line = 0;  // PTX source line, for errors
};

// A variable in global/const (module) or shared/local (kernel or module) space.
struct Symbol {
  std::string name;
  Space space = Space::kGlobal;
  uint64_t size = 0;
  uint32_t align = 1;
  uint64_t offset = 0;         // shared/local: offset in the block's / thread's window
  bool extern_shared = false;  // `.extern .shared` (dynamic shared memory, size 0)
  std::vector<uint8_t> init;   // global/const initial bytes (empty: zero)
};

struct Param {
  std::string name;
  uint32_t offset = 0, size = 0, align = 1;
};

// A direct call: the caller's .param variables (in its call scratch) copied into the callee's
// frame, and the callee's return copied back.
inline constexpr int32_t kCalleeVprintf = -2;  // CallSite::callee of the device printf
struct CallSite {
  int32_t callee = -1;                           // index into PtxModule::functions, or kCallee*
  std::vector<uint32_t> arg_offsets, arg_bytes;  // in the caller's scratch
  int64_t ret_offset = -1;                       // in the caller's scratch; -1: none
  uint32_t ret_bytes = 0;
};

// A kernel (.entry) or a device function (.func): the same shape. A function's parameter
// frame (param_bytes) holds its parameters, then its returns.
struct Kernel {
  std::string name;
  bool is_func = false;
  std::vector<Param> params;
  std::vector<Param> returns;  // .func only
  uint32_t param_bytes = 0;
  uint32_t scratch_bytes = 0;   // the call sites' .param variables (callseq blocks)
  std::vector<CallSite> calls;  // Inst::ops[0].imm of a kCall indexes this
  std::vector<Inst> code;
  uint32_t slots = 0;           // registers, each a 64-bit slot
  std::vector<Symbol> symbols;  // what address operands may name (module's, then own)
  uint32_t shared_bytes = 0;    // static shared (dynamic shared starts after it, aligned 16)
  uint32_t local_bytes = 0;     // per thread
  uint32_t max_threads = 0;     // .maxntid product, 0: none
  uint32_t first_line = 0;
};

struct PtxModule {
  uint32_t version_major = 0, version_minor = 0;  // .version
  uint32_t target_sm = 0;                         // .target sm_NN
  std::vector<Kernel> kernels;
  std::vector<Kernel> functions;  // .func with bodies, what kernels may call
  std::vector<Symbol> globals;    // module-scope .global/.const (their memory: the backend's)
  const Kernel* find(const std::string& name) const {
    for (const Kernel& k : kernels)
      if (k.name == name) return &k;
    return nullptr;
  }
};

}  // namespace rgpu::server::ptx
