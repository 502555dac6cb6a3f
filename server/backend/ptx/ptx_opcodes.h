// server/backend/ptx/ptx_opcodes.h — the vocabulary ptx_decode.cc decodes with: opcode and
// special-register names, type names, the modifiers that change nothing for the executor, and
// immediates as bits.
//
// Contract: pure lookups on text. lookup_op()/lookup_special() are false for a name the
// executor does not know; parse_type() gives Kind::kNone for anything but a scalar type it
// serves (f32/f64, the integer and bit types, pred, f16/bf16 and their x2, tf32);
// imm_bits() returns "" and the operand's bits, or what is wrong with the literal.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "server/backend/ptx/ptx_ir.h"

namespace rgpu::server::ptx {

bool lookup_op(std::string_view name, Op* op);
bool lookup_special(std::string_view name, Special* s);
std::string type_name(Type t);  // of a 16-bit or tf32 type: "f16", "bf16x2", "tf32"...
Type parse_type(std::string_view modifier);
// Cache, ordering-scope and similar hints (L1::, L2::, .volatile, .relaxed, .gpu, ...).
bool is_ignored_modifier(std::string_view modifier);
// Whether operand i of `in` takes a float immediate.
bool float_operand(const Inst& in, size_t i);
std::string imm_bits(std::string_view text, bool negative, bool as_float, Type t, uint64_t* out);

}  // namespace rgpu::server::ptx
