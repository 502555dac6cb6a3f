// protocol/ops.h — the op records generated from ops.def, shared by client and server.
//
// Contract: for every RGPU_OP(Name, Code, Class, Payload, Args, Result) in ops.def this header
// defines
//   rgpu::op::Name::Args, rgpu::op::Name::Result  (trivially copyable, sent as raw bytes),
//   rgpu::op::Name::kCode, kClass, kPayload, kName,
//   rgpu::Op::Name (the wire number) and rgpu::op_name(Op) for logs and statistics.
// A receiver must check that a record's byte length equals sizeof(Args) before using it
// (decode_record does). Both ends are little-endian x86-64/aarch64; the hello's version check
// covers layout changes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <type_traits>

namespace rgpu {

enum class OpClass : uint8_t { kSync, kAsync };

// What may travel next to an op's record (ops.def's Payload column).
enum class PayloadKind : uint8_t { kNone, kCopyIn, kImage, kName, kLaunch, kRows, kRecords };

// The most bytes a kName payload holds (a name, and for ModuleGetFunctionDeferred a layout).
inline constexpr uint64_t kMaxNameBytes = 64 * 1024;

// The most bytes of records one kept graph holds (GraphUpload), and all of a session's graphs.
inline constexpr uint64_t kMaxGraphRecordsBytes = 1ull << 20;
inline constexpr uint64_t kMaxSessionGraphBytes = 64ull << 20;

// The most bytes one 2-D copy op carries: Memcpy2DHtoD's payload rides in a batch, so it stays
// small; Memcpy2DDtoH's reply is a frame payload of its own. The client splits a larger copy
// into ops of whole rows, and copies rows of kWideRowBytes or more one by one through the 1-D
// path (bulk chunks).
inline constexpr uint64_t kMax2DHtoDBytes = 256 * 1024;
inline constexpr uint64_t kMax2DDtoHBytes = 16ull << 20;
inline constexpr uint64_t kWideRowBytes = 64 * 1024;

// Virtual memory management (MemCreate ... MemUnmap): the granularity of sizes, offsets and
// addresses, which the shim reports as cuMemGetAllocationGranularity's minimum and recommended.
inline constexpr uint64_t kVmmGranularity = 2ull << 20;

// MemcpyHtoD / MemcpyDtoH Args.flags (ops.def): the bytes travel as BulkChunk frames; and,
// on a bulk DtoH, the client accepts LZ4-compressed chunks.
inline constexpr uint64_t kCopyFlagBulk = 1;
inline constexpr uint64_t kCopyFlagCompressOk = 2;

enum class Op : uint16_t {
#define RGPU_OP(Name, Code, Class, Payload, ArgsF, ResultF) Name = Code,
#include "protocol/ops.def"
#undef RGPU_OP
};

namespace op {
#define RGPU_UNPAREN(...) __VA_ARGS__
#define RGPU_OP(Name, Code, Class, Payload, ArgsF, ResultF)                       \
  struct Name {                                                                   \
    static constexpr ::rgpu::Op kCode = ::rgpu::Op::Name;                         \
    static constexpr ::rgpu::OpClass kClass = ::rgpu::OpClass::Class;             \
    static constexpr ::rgpu::PayloadKind kPayload = ::rgpu::PayloadKind::Payload; \
    static constexpr std::string_view kName = #Name;                              \
    struct Args {                                                                 \
      RGPU_UNPAREN ArgsF                                                          \
    };                                                                            \
    struct Result {                                                               \
      RGPU_UNPAREN ResultF                                                        \
    };                                                                            \
    static_assert(std::is_trivially_copyable_v<Args>);                            \
    static_assert(std::is_trivially_copyable_v<Result>);                          \
  };
#include "protocol/ops.def"
#undef RGPU_OP
#undef RGPU_UNPAREN
}  // namespace op

// The op's name, or "" for a number no op has.
constexpr std::string_view op_name(Op o) {
  switch (o) {
#define RGPU_OP(Name, Code, Class, Payload, ArgsF, ResultF) \
  case Op::Name:                                            \
    return #Name;
#include "protocol/ops.def"
#undef RGPU_OP
  }
  return "";
}

// Whether a wire number names an op, and its class.
constexpr std::optional<OpClass> op_class(uint16_t code) {
  switch (static_cast<Op>(code)) {
#define RGPU_OP(Name, Code, Class, Payload, ArgsF, ResultF) \
  case Op::Name:                                            \
    return OpClass::Class;
#include "protocol/ops.def"
#undef RGPU_OP
  }
  return std::nullopt;
}

// The stream an op's record names (its Args.stream field), if it has one; false for an op with
// no stream, an unknown op or a record of the wrong size. set_op_stream() rewrites it in place.
// (Graphs replay recorded ops on the stream they are launched on: interpose/capture.h.)
namespace detail {
template <typename A>
bool get_stream(const void* args, size_t len, uint64_t* stream) {
  if constexpr (requires(A a) { a.stream; }) {
    if (len != sizeof(A)) return false;
    A a;
    std::memcpy(&a, args, sizeof a);
    *stream = a.stream;
    return true;
  } else {
    return false;
  }
}
template <typename A>
bool put_stream(void* args, size_t len, uint64_t stream) {
  if constexpr (requires(A a) { a.stream; }) {
    if (len != sizeof(A)) return false;
    A a;
    std::memcpy(&a, args, sizeof a);
    a.stream = stream;
    std::memcpy(args, &a, sizeof a);
    return true;
  } else {
    return false;
  }
}
}  // namespace detail
inline bool op_stream(Op o, const void* args, size_t len, uint64_t* stream) {
  switch (o) {
#define RGPU_OP(Name, Code, Class, Payload, ArgsF, ResultF) \
  case Op::Name:                                            \
    return detail::get_stream<op::Name::Args>(args, len, stream);
#include "protocol/ops.def"
#undef RGPU_OP
  }
  return false;
}
inline bool set_op_stream(Op o, void* args, size_t len, uint64_t stream) {
  switch (o) {
#define RGPU_OP(Name, Code, Class, Payload, ArgsF, ResultF) \
  case Op::Name:                                            \
    return detail::put_stream<op::Name::Args>(args, len, stream);
#include "protocol/ops.def"
#undef RGPU_OP
  }
  return false;
}

// Copies a record out of received bytes; false if the length is not exactly sizeof(T).
template <typename T>
bool decode_record(const void* data, size_t len, T* out) {
  if (len != sizeof(T)) return false;
  std::memcpy(out, data, sizeof(T));
  return true;
}

}  // namespace rgpu
