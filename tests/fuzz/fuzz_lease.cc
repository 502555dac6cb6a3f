// Fuzz target: leases as servers receive them (protocol/control/lease.h): the RGPU_LEASE text
// form and the signed bytes, verified against a fixed pool key. Nothing but a real signature by
// that key may verify, and nothing may crash or throw.
#include <string>

#include "protocol/control/lease.h"

namespace {
const rgpu::control::PoolKey& key() {
  static const rgpu::control::PoolKey k = rgpu::control::generate_pool_key();
  return k;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string bytes;
  if (rgpu::control::lease_from_text(in, &bytes))
    (void)rgpu::control::verify_lease(bytes, key().public_raw, 1'800'000'000, "127.0.0.1:7071");
  auto r = rgpu::control::verify_lease(in, key().public_raw, 1'800'000'000);
  // A random key signed nothing the fuzzer could produce.
  if (r.ok) __builtin_trap();
  std::string raw;
  std::string err;
  (void)rgpu::control::parse_public_key(in, &raw, &err);
  return 0;
}
