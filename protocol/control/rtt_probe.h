// protocol/control/rtt_probe.h — how far a provider is: the round trip to its data-plane
// endpoint, for placement policy "nearest" (`rgpu run --policy nearest`).
//
// Contract:
// - probe_rtt_us() opens a TCP connection to `endpoint` ("host:port") and times one plaintext
//   `GET /healthz` until the first byte of the answer (rgpu-server's supervisor answers it
//   itself, with or without TLS on the data plane, and starts no worker): one round trip, not
//   counting the connect (a relay in between, such as bench/'s link emulator, accepts at once).
//   It repeats `tries` times on fresh connections and returns the least, in microseconds; 0
//   with *error when no try got an answer within `timeout_ms` in all.
// - probe_all() probes every endpoint at once (one thread each) and returns those that
//   answered. It never throws.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rgpu::control {

uint32_t probe_rtt_us(const std::string& endpoint, int timeout_ms, int tries, std::string* error);
std::map<std::string, uint32_t> probe_all(const std::vector<std::string>& endpoints,
                                          int timeout_ms = 1500, int tries = 3);

}  // namespace rgpu::control
