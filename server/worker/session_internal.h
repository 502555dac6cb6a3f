// server/worker/session_internal.h — small helpers the session's op handlers share.
//
// Contract: only server/worker/session*.cc include this. bad() is the one way a handler makes an
// error Status; the limits here are the worker's for names and module images (ops.def kName,
// kImage).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "server/backend/backend.h"

namespace rgpu::server {

inline constexpr uint64_t kMaxModuleBytes = 1ull << 30;

inline Status bad(CUresult c, std::string t) {
  return Status::Err(c, std::move(t));
}

inline Status bad_record(std::string_view op, size_t got, size_t want) {
  return bad(CUDA_ERROR_INVALID_VALUE, "malformed " + std::string(op) +
                                           " record: " + std::to_string(got) + " bytes, expected " +
                                           std::to_string(want));
}

inline std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// A NUL-terminated name in a payload (the NUL may be the last byte, or absent at the end).
inline bool read_name(const uint8_t* p, uint64_t n, std::string* out) {
  if (n == 0 || n > kMaxNameBytes) return false;
  const void* nul = std::memchr(p, 0, n);
  size_t len = nul ? static_cast<const uint8_t*>(nul) - p : n;
  if (len == 0) return false;
  out->assign(reinterpret_cast<const char*>(p), len);
  return true;
}

// Returns from a handler with st when it is an error.
#define RGPU_TRY(expr)                  \
  do {                                  \
    ::rgpu::server::Status s_ = (expr); \
    if (!s_.ok()) return s_;            \
  } while (0)

}  // namespace rgpu::server
