// cli/pool_call.h — how a verb talks to the pool: open the connection, read a refusal.
//
// Contract: open_pool() returns a connected, authenticated PoolConnection, or prints why not
// ("rgpu: ...") and returns nullptr; refused(resp) prints the pool's error and returns true
// when the reply carries one. Verbs turn both into exit status 1.
#pragma once

#include <memory>

#include "cli/cli.h"
#include "protocol/control/pool_client.h"

namespace rgpu::cli {

inline std::unique_ptr<control::PoolConnection> open_pool(const Args& a) {
  if (a.token.empty()) {
    error("no token; pass --token or set RGPU_TOKEN");
    return nullptr;
  }
  auto c = std::make_unique<control::PoolConnection>(a.pool, a.token, "rgpu cli");
  std::string err = c->open();
  if (!err.empty()) {
    error(err);
    return nullptr;
  }
  return c;
}

template <typename R>
bool refused(const R& resp) {
  if (resp.getError().size() == 0) return false;
  error(resp.getError().cStr());
  return true;
}

}  // namespace rgpu::cli
