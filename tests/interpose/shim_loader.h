// tests/interpose/shim_loader.h — opens the built libcuda.so.1 with dlopen, as cudart does.
//
// Contract: shim() returns the handle (RTLD_NOW|RTLD_LOCAL) or fails the test; sym<T>(name)
// looks up an exported symbol. The tests talk to the real shared object, not to the core
// library's copies of the same functions.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

#include "interpose/cuda_api.h"

namespace rgpu::test {

inline void* shim() {
  static void* h = dlopen(RGPU_SHIM_PATH, RTLD_NOW | RTLD_LOCAL);
  if (!h) ADD_FAILURE() << "dlopen " << RGPU_SHIM_PATH << ": " << dlerror();
  return h;
}

template <typename T>
T sym(const char* name) {
  void* h = shim();
  return h ? reinterpret_cast<T>(dlsym(h, name)) : nullptr;
}

}  // namespace rgpu::test
