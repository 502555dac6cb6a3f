// interpose/cuda_api.h — cuda.h as the driver itself sees it.
//
// Contract: defines __CUDA_API_VERSION_INTERNAL before cuda.h, so every exported variant
// (cuMemAlloc and cuMemAlloc_v2, cuMemcpyHtoD_v2_ptds, ...) is declared under its real name and
// no renaming macro applies; then cudaTypedefs.h for the PFN_<name>_v<version> typedefs that the
// entry-point spec is checked against. Every interpose file includes CUDA through this header.
#pragma once

#ifndef __CUDA_API_VERSION_INTERNAL
#define __CUDA_API_VERSION_INTERNAL 1
#endif
#include <cuda.h>
#include <cudaProfiler.h>
#include <cudaProfilerTypedefs.h>
#include <cudaTypedefs.h>
