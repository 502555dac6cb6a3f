// pool_manager/pool_internal.h — helpers the PoolState source files share (pool_state.cc,
// pool_tokens.cc); not part of PoolState's interface.
#pragma once

#include <openssl/rand.h>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>

#include "pool_manager/pool_state.h"

namespace rgpu::pool {

// The outermost one begins the store's transaction, reloads memory first if an earlier one
// failed unreloaded, then catches up; commit() (or leaving scope without an exception) commits.
// A failure anywhere rolls back and reloads memory from the store; a reload that fails leaves
// needs_reload_ for the next transaction, which refuses to go on until one succeeds.
class PoolState::Writing {
 public:
  explicit Writing(PoolState& s)
      : s_(s), outer_(s.write_depth_ == 0), uncaught_(std::uncaught_exceptions()) {
    if (outer_) {
      s_.store_.begin();
      try {
        if (s_.needs_reload_) {
          s_.load_all();
          s_.needs_reload_ = false;
        }
        s_.catch_up();
      } catch (...) {
        fail();
        throw;
      }
    }
    s_.write_depth_++;
  }
  Writing(const Writing&) = delete;
  Writing& operator=(const Writing&) = delete;
  // Commits now (the outermost); throws StoreError when the store cannot, memory reloaded.
  void commit() {
    if (done_) return;
    done_ = true;
    s_.write_depth_--;
    if (!outer_) return;
    try {
      s_.store_.commit();
    } catch (...) {
      fail();
      throw;
    }
    s_.rev_ = std::max(s_.rev_, s_.store_.last_own_rev());  // its own writes are in memory
  }
  // Never held in a std::optional or a smart pointer: a commit failing here throws, which only a
  // plain local's destructor may.
  ~Writing() noexcept(false) {
    if (done_) return;
    if (std::uncaught_exceptions() > uncaught_) {  // the change failed: none of it stays
      done_ = true;
      s_.write_depth_--;
      if (outer_) fail();
      return;
    }
    commit();
  }

 private:
  void fail() {
    try {
      s_.store_.rollback();
    } catch (...) {  // e.g. SQLite rolled back itself; the connection is gone
    }
    try {
      s_.load_all();
    } catch (...) {
      s_.needs_reload_ = true;
      try {
        s_.index();  // indexes that at least match the vectors as they are
      } catch (...) {
      }
    }
  }
  PoolState& s_;
  bool outer_;
  int uncaught_;
  bool done_ = false;
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
