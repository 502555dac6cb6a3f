// protocol/control/control_version.h — the control-plane protocol version.
//
// Contract: every caller states the range it speaks in Pool.connect; the pool answers with the
// newest version both speak or refuses with an error naming both ranges (rgpu::negotiate, with a
// "control plane" prefix). Bump kControlVersion when a control_plane.capnp field changes meaning.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/version.h"

namespace rgpu::control {

// 2: heartbeats carry usage receipts; lease rows their merged usage (a version-1 peer sends and
// sees none).
// 3: providers register a receipt key and sign their receipts with it; the pool refuses a
// receipt that does not verify under the key its provider registered (a provider registered
// without one, at version 2, sends unsigned receipts and its ledger entries say so).
// 4: acquire carries the client's request id; a pool at 4 answers a repeated id with the first
// answer's leases, so a client retries an acquire through another replica only at 4.
// 5: compute shares: acquire may ask for one, providers state the share they lend, leases and
// grants carry it; a client asking for a share refuses a pool below 5. Policy "nearest":
// `candidates` lists endpoints to measure, acquire carries the round trips measured.
inline constexpr uint32_t kControlVersion = 5;
inline constexpr uint32_t kMinControlVersion = 1;

inline Negotiated negotiate_control(uint32_t peer_min, uint32_t peer_max) {
  Negotiated n = negotiate(peer_min, peer_max, kMinControlVersion, kControlVersion);
  if (!n.ok) n.error = "control plane " + n.error;
  return n;
}

}  // namespace rgpu::control
