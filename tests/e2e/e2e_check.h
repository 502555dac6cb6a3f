// tests/e2e/e2e_check.h — checking helpers shared by the end-to-end CUDA programs.
//
// Contract: every e2e program checks its own results and exits 0 only if all of them hold.
// CHECK_CUDA(call) runs a CUDA runtime call and, if it does not return cudaSuccess, prints the
// call's text, file:line, the error's name, number and message to stderr and exits 1.
// EXPECT_TRUE(cond, fmt, ...) prints a diagnostic and exits 1 when cond is false.
// e2e_pass(name) prints "PASS <name>" on stdout: the runner greps for it. Including this header
// makes stdout line-buffered, so what a program printed survives a crash.
#pragma once

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

#define CHECK_CUDA(call)                                                                       \
  do {                                                                                         \
    cudaError_t e2e_err_ = (call);                                                             \
    if (e2e_err_ != cudaSuccess) {                                                             \
      std::fprintf(stderr, "FAIL %s:%d: %s returned %s (%d): %s\n", __FILE__, __LINE__, #call, \
                   cudaGetErrorName(e2e_err_), static_cast<int>(e2e_err_),                     \
                   cudaGetErrorString(e2e_err_));                                              \
      std::exit(1);                                                                            \
    }                                                                                          \
  } while (0)

#define EXPECT_TRUE(cond, ...)                                                      \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "FAIL %s:%d: expected %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                            \
      std::fprintf(stderr, "\n");                                                   \
      std::exit(1);                                                                 \
    }                                                                               \
  } while (0)

// Expects `got` to be exactly the error `want`; prints both by name otherwise.
#define EXPECT_CUDA_ERROR(got, want, what)                                                   \
  do {                                                                                       \
    cudaError_t e2e_got_ = (got), e2e_want_ = (want);                                        \
    if (e2e_got_ != e2e_want_) {                                                             \
      std::fprintf(stderr, "FAIL %s:%d: %s: expected %s (%d), got %s (%d): %s\n", __FILE__,  \
                   __LINE__, what, cudaGetErrorName(e2e_want_), static_cast<int>(e2e_want_), \
                   cudaGetErrorName(e2e_got_), static_cast<int>(e2e_got_),                   \
                   cudaGetErrorString(e2e_got_));                                            \
      std::exit(1);                                                                          \
    }                                                                                        \
  } while (0)

inline const int e2e_stdout_line_buffered = std::setvbuf(stdout, nullptr, _IOLBF, 0);

inline void e2e_pass(const char* name) {
  std::printf("PASS %s\n", name);
  std::fflush(stdout);
}
