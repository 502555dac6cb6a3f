// interpose/integrity.h — the hash cudart verifies through the INTEGRITY_CHECK export table.
//
// Contract: cudart calls INTEGRITY_CHECK[1](version, unix_seconds, out[2]) and (for
// version % 10 == 2) compares out with its own computation over {driver version, version, pid,
// thread id, the CUDART_INTERFACE and INTEGRITY_CHECK table addresses, the slot's address,
// unix_seconds} followed by {uuid, pci domain, bus, device} for every device. The algorithm is
// HMAC with MD2 (RFC 1319) as the hash and a fixed 16-byte key, as reverse-engineered by the
// ZLUDA project (reimplemented here from the MD2 specification). Inputs must agree with what the
// shim reports (cuDriverGetVersion, cuDeviceGetUuid, PCI attributes) or cudart fails with
// cudaErrorSoftwareValidityNotEstablished.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rgpu {

// MD2 (RFC 1319), incremental.
class Md2 {
 public:
  Md2() { reset(); }
  void reset();
  void update(const void* data, size_t len, uint8_t xor_mask = 0);
  void final(uint8_t out[16]);
  // The whole internal state: 48 bytes X, 16 checksum, count, last checksum byte (tests).
  const uint8_t* state() const { return x_; }

 private:
  void byte(uint8_t b);
  void compress();
  // x_[0..48): the MD2 state X (X[16..32) is the block, X[32..48) block^state);
  // x_[48..64): checksum C; x_[64]: bytes in the current block; x_[65]: checksum carry L.
  uint8_t x_[66];
};

struct IntegrityDevice {
  uint8_t uuid[16];
  int32_t pci_domain, pci_bus, pci_device;
};
static_assert(sizeof(IntegrityDevice) == 28);

struct IntegrityInput {
  uint32_t driver_version;
  uint32_t version;
  uint32_t pid;
  uint32_t thread;
  const void* cudart_table;
  const void* integrity_table;
  const void* fn_address;
  uint64_t unix_seconds;
};
static_assert(sizeof(IntegrityInput) == 48);

// out[0..1] as cudart expects them.
void integrity_hash(const IntegrityInput& in, const std::vector<IntegrityDevice>& devices,
                    uint64_t out[2]);

}  // namespace rgpu
