// interpose/api.h — the implementations behind the exported entry points.
//
// Contract: for every RGPU_ENTRY(Export, Pfn, Class, Params) in spec/entry_points.def this
// declares rgpu::api::Export(Params) -> CUresult with exactly the spec's parameters; the
// exported wrapper (entry_points.cc) calls it. Implementations live in the *_api.cc files and
// may throw (the wrapper turns exceptions into CUDA errors).
#pragma once

#include "interpose/cuda_api.h"
#include "interpose/spec/spec_macros.h"

namespace rgpu::api {

#define RGPU_ENTRY(Export, Pfn, Class, Params) CUresult Export(RGPU_SPEC_DECLS(Params));
#include "interpose/spec/entry_points.def"
#undef RGPU_ENTRY

}  // namespace rgpu::api
