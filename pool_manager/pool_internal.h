// pool_manager/pool_internal.h — helpers the PoolState source files share (pool_state.cc,
// pool_tokens.cc); not part of PoolState's interface.
#pragma once

#include <openssl/rand.h>

#include <exception>
#include <stdexcept>
#include <string>

#include "pool_manager/pool_state.h"

namespace rgpu::pool {

class PoolState::Writing {
 public:
  explicit Writing(PoolState& s)
      : s_(s), outer_(s.write_depth_ == 0), uncaught_(std::uncaught_exceptions()) {
    if (outer_) {
      s_.store_.begin();
      try {
        s_.catch_up();
      } catch (...) {
        s_.store_.rollback();
        throw;
      }
    }
    s_.write_depth_++;
  }
  Writing(const Writing&) = delete;
  Writing& operator=(const Writing&) = delete;
  ~Writing() noexcept(false) {
    s_.write_depth_--;
    if (!outer_) return;
    if (std::uncaught_exceptions() > uncaught_) {  // the change failed: none of it stays
      try {
        s_.store_.rollback();
        s_.load_all();
      } catch (...) {
      }
      return;
    }
    try {
      s_.store_.commit();
    } catch (...) {
      try {
        s_.store_.rollback();
        s_.load_all();
      } catch (...) {
      }
      throw;
    }
  }

 private:
  PoolState& s_;
  bool outer_;
  int uncaught_;
};

}  // namespace rgpu::pool

namespace rgpu::pool {
// The key of PoolState's request index: the lease's token and its acquire's request id.
std::string request_key(const LeaseRecord& l);
}  // namespace rgpu::pool

namespace rgpu::pool::internal {

// `bytes` random bytes as hex (ids, token secrets). Throws std::runtime_error if the RNG fails.
inline std::string random_hex(size_t bytes) {
  std::string b(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(b.data()), static_cast<int>(bytes)) != 1)
    throw std::runtime_error("RNG failed");
  return control::to_hex(b);
}

// host:port with the host lowercased (DNS names compare without case).
inline std::string lowercase_host(const std::string& endpoint) {
  std::string e = endpoint;
  const size_t colon = e.rfind(':');
  for (size_t i = 0; i < (colon == std::string::npos ? e.size() : colon); ++i)
    if (e[i] >= 'A' && e[i] <= 'Z') e[i] = static_cast<char>(e[i] - 'A' + 'a');
  return e;
}

// The refusal of an admin-only action to caller `c`.
inline std::string need(const char* what, const Caller& c) {
  return std::string("permission denied: ") + what + " needs an admin token (this token is " +
         role_text(c.role) + "); pass one with --token or RGPU_TOKEN";
}

}  // namespace rgpu::pool::internal
