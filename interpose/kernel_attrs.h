// interpose/kernel_attrs.h — function attributes and occupancy answered in the client, from
// the kernel attributes in the module's image (protocol/image/kernel_table.h) and the device's
// limits (DeviceProps).
//
// Contract:
// - Images are parsed once per (image hash, device SM) and kept for the process's life.
//   A library keeps its image bytes (modules.h), so its kernels are parsed on first query; a
//   standalone module's bytes may be freed once cuModuleLoadData returns, so module_api.cc calls
//   remember_module_image() at load (a parse failure only means the server answers).
// - local_function_attribute() answers CU_FUNC_ATTRIBUTE_NUM_REGS, MAX_THREADS_PER_BLOCK,
//   SHARED_SIZE_BYTES, CONST_SIZE_BYTES, LOCAL_SIZE_BYTES and BINARY_VERSION when the image
//   holds the kernel's compiled code (a cubin: its register count is stated). Anything else, a
//   PTX-only kernel, or a kernel the image does not name gives CUDA_ERROR_NOT_FOUND: the caller
//   asks the server. MAX_THREADS_PER_BLOCK is occupancy.h's max_threads_per_block().
// - occupancy_inputs() gives the same facts as occupancy.h's inputs, false when the server
//   must answer.
#pragma once

#include "interpose/cuda_api.h"
#include "interpose/occupancy.h"

namespace rgpu {

struct Function;
struct Module;
struct Device;

void remember_module_image(const Module* m, const void* code);
CUresult local_function_attribute(Function* f, CUfunction_attribute attrib, int* value);
bool occupancy_inputs(Function* f, occ::OccDevice* dev, occ::OccFunction* fn);
// The device limits alone (false when the server did not state them).
bool occupancy_device(const Device& d, occ::OccDevice* dev);

}  // namespace rgpu
