// interpose/entry_points.cc — the exported driver symbols, generated from spec/entry_points.def.
//
// Contract: each RGPU_ENTRY becomes an exported extern "C" function with the spec's parameters,
// static_asserted to have exactly the type of its cudaTypedefs.h PFN typedef (and, through
// cuda_api.h, to match cuda.h's own declaration). The wrapper refuses remote calls in a forked
// child, returns CUDA_ERROR_INVALID_VALUE for a NULL P_OUT parameter (spec_macros.h), traces
// under RGPU_LOG=debug and turns any exception into a CUDA error.
#include <type_traits>

#include "interpose/api.h"
#include "interpose/client.h"
#include "interpose/log.h"
#include "interpose/stats.h"

namespace {
enum EntryIndex : size_t {
#define RGPU_ENTRY(Export, Pfn, Class, Params) kEntry_##Export,
#include "interpose/spec/entry_points.def"
#undef RGPU_ENTRY
  kEntryCount
};
const char* const kEntryNames[] = {
#define RGPU_ENTRY(Export, Pfn, Class, Params) #Export,
#include "interpose/spec/entry_points.def"
#undef RGPU_ENTRY
};
}  // namespace

namespace rgpu {
size_t entry_count() {
  return kEntryCount;
}
const char* entry_name(size_t i) {
  return i < kEntryCount ? kEntryNames[i] : "?";
}
}  // namespace rgpu

#define RGPU_ENTRY(Export, Pfn, Class, Params)                                                 \
  extern "C" __attribute__((visibility("default"))) CUresult Export(RGPU_SPEC_DECLS(Params)) { \
    RGPU_SPEC_CHECKS(Params)                                                                   \
    constexpr ::rgpu::EntryClass cls_ = ::rgpu::EntryClass::Class;                             \
    ::rgpu::LocalEntryScope scope_(cls_ == ::rgpu::EntryClass::kLocal ? #Export : nullptr);    \
    if (::rgpu::stats_on()) ::rgpu::count_entry(kEntry_##Export);                              \
    if (::rgpu::log_calls()) {                                                                 \
      ::rgpu::TraceBuf trace_;                                                                 \
      RGPU_SPEC_TRACES(Params)                                                                 \
      ::rgpu::trace_call(#Export, cls_, trace_);                                               \
    }                                                                                          \
    const char* null_out_ = nullptr;                                                           \
    RGPU_SPEC_NULLS(Params)                                                                    \
    if (null_out_) return ::rgpu::null_output_error(#Export, null_out_);                       \
    if (cls_ != ::rgpu::EntryClass::kLocal && ::rgpu::in_forked_child())                       \
      return ::rgpu::forked_child_error(#Export);                                              \
    CUresult r_;                                                                               \
    try {                                                                                      \
      r_ = ::rgpu::api::Export(RGPU_SPEC_NAMES(Params));                                       \
    } catch (...) {                                                                            \
      r_ = ::rgpu::exception_to_result(#Export);                                               \
    }                                                                                          \
    if (::rgpu::log_calls() && r_ != CUDA_SUCCESS) ::rgpu::trace_result(#Export, r_);          \
    return r_;                                                                                 \
  }                                                                                            \
  static_assert(std::is_same_v<decltype(&Export), Pfn>, #Export " does not match " #Pfn);
#include "interpose/spec/entry_points.def"
#undef RGPU_ENTRY
