// pool_manager/signing_keys.h — which keys sign leases, across replicas and rotations.
//
// Contract:
// - The store's meta `pool_public_key` (hex) names the key replicas sign leases with now;
//   `pool_retired_keys` lists earlier ones as "HEX:UNTIL,…", each still published until UNTIL
//   (unix s: when the last lease it could have signed expires).
// - adopt_signing_key() is a replica's start: the first replica's key becomes the store's; a
//   replica with another key is refused (its leases would be refused by servers) unless
//   `rotate`, which makes it the store's key and retires the old one until now + lease TTL +
//   a minute. Returns "" or why the replica must not start; *note gets a line to print.
// - published_keys() is what servers are told to accept (heartbeat answers, control plane 4):
//   this replica's key, the store's, and every retired key not yet past its UNTIL, each once,
//   this replica's first. A server checks a lease against each (server/worker/lease_auth.h).
//   A replica whose own key is retired and past its UNTIL is not in the list: it must not sign
//   (PoolState::acquire refuses until it restarts with the current key).
// - `pool_ledger_keys` lists every key that was ever the store's (hex, comma-separated, oldest
//   first; never pruned): the ledger's heads are signed by whichever was in use, and stay the
//   pool's after any number of rotations. adopt_signing_key() adds to it; ledger_keys() reads
//   it (raw keys, plus `public_raw`) for Ledger::audit.
#pragma once

#include <string>
#include <vector>

#include "pool_manager/store.h"

namespace rgpu::pool {

std::string adopt_signing_key(Store& store, const std::string& public_raw, bool rotate,
                              int64_t now_unix, int64_t lease_ttl_s, std::string* note);

std::vector<std::string> published_keys(Store& store, const std::string& public_raw,
                                        int64_t now_unix);

std::vector<std::string> ledger_keys(Store& store, const std::string& public_raw);

}  // namespace rgpu::pool
