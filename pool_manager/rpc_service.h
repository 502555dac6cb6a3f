// pool_manager/rpc_service.h — the Cap'n Proto face of PoolState (control_plane.capnp).
//
// Contract: make_pool_service() returns the bootstrap `Pool` capability. Pool.connect checks the
// control-plane version range (refusing with both ranges named) and the token, and hands out a
// `Session` bound to that caller; every Session method delegates to PoolState, which enforces
// the role. Runs on the kj event loop's thread, as PoolState requires.
#pragma once

#include "pool_manager/pool_state.h"
#include "protocol/control/control_plane.capnp.h"

namespace rgpu::pool {

cp::Pool::Client make_pool_service(PoolState& state);

}  // namespace rgpu::pool
