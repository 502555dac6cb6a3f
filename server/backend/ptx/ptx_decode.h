// server/backend/ptx/ptx_decode.h — one PTX instruction, as parsed, to an Inst (ptx_ir.h).
//
// Contract: ptx_parse.cc collects a kernel body as RawInsts (names still text); once the body
// is complete (labels known) decode_inst() resolves each against the kernel's registers,
// parameters, symbols and labels and checks that the executor implements the opcode with
// these modifiers and operand kinds. The error is the part after "kernel K, PTX line N: ".
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/backend/ptx/ptx_ir.h"

namespace rgpu::server::ptx {

struct RawOperand {
  enum K : uint8_t { kName, kImm, kAddr, kVec, kSink };
  K kind = kName;
  bool negate = false;    // `!%p`
  bool complex = false;   // an address form the executor has no use for ([t, {c}])
  std::string_view name;  // kName; kAddr base ("" for an absolute address)
  std::string_view imm;   // kImm text (without a leading '-')
  bool imm_negative = false;
  int64_t offset = 0;   // kAddr
  int32_t scoped = -1;  // the call-site .param variable (symbol index) the name meant where it
                        // was written (callseq blocks reuse names); -1: look it up
  std::vector<std::string_view> vec;  // kVec ("_" for a sink)
};

struct RawInst {
  std::string_view pred;  // "" for none
  bool pred_negate = false;
  std::string_view opcode;
  std::vector<RawOperand> ops;
  bool pair = false;  // ops[1] is a second destination (`%p|%q`)
  // call[.uni] (rets), target, (args)[, prototype]
  std::vector<std::string_view> call_rets, call_args;
  std::vector<int32_t> call_ret_syms, call_arg_syms;  // as RawOperand::scoped
  std::string_view call_target, call_prototype;
  uint32_t line = 0;
};

struct DecodeContext {
  struct Range {  // `.reg .b32 %r<N>`: %r0 .. %r(N-1) from slot `first`
    std::string_view prefix;
    uint32_t first = 0, count = 0;
  };
  std::map<std::string_view, int32_t> regs;  // single registers: name -> slot
  std::vector<Range> ranges;
  std::vector<std::pair<uint32_t, uint32_t>> pred_slots;  // .pred registers: first slot, count
  bool is_pred(int32_t slot) const {
    for (const auto& [first, count] : pred_slots)
      if (slot >= 0 && static_cast<uint32_t>(slot) - first < count) return true;
    return false;
  }
  std::map<std::string_view, uint32_t> labels;                     // name -> instruction index
  const Kernel* kernel = nullptr;                                  // params and symbols
  const std::map<std::string_view, int32_t>* functions = nullptr;  // with bodies
  const std::set<std::string_view>* declared = nullptr;            // without
  std::vector<CallSite>* calls = nullptr;                          // the kernel's call sites
  int32_t slot(std::string_view name) const;                       // -1: not a declared register
};

std::string decode_inst(const RawInst& raw, const DecodeContext& cx, Inst* out);

}  // namespace rgpu::server::ptx
