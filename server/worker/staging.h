// server/worker/staging.h — the staging buffers a lane moves bulk copies through when its
// backend has no host view of device memory (cuda).
//
// Contract:
// - A StagingRing owns kSlots buffers of piece_bytes each, from
//   Backend::staging_alloc (page-locked on cuda), taken lazily on first use and freed (after
//   every slot's copy completed) on destruction. ok() is false when they could not be had.
// - acquire() hands out the slots round-robin. Before it returns a slot it waits for that slot's
//   previous staged copy (Backend::staged_wait); a failure of that copy comes back in *prior
//   (the copy's range was checked, so this is a device fault, kept for the next sync call).
// - piece_for(bytes) is the piece size for a copy of `bytes`: a quarter of it, between 256 KiB
//   and piece_bytes, so even a 1 MiB copy has pieces to overlap.
// - One ring belongs to one lane (one thread); nothing here locks.
#pragma once

#include <cstdint>

#include "server/backend/backend.h"

namespace rgpu::server {

class StagingRing {
 public:
  static constexpr int kSlots = 2;

  StagingRing(Backend& backend, uint64_t piece_bytes);
  ~StagingRing();
  StagingRing(const StagingRing&) = delete;
  StagingRing& operator=(const StagingRing&) = delete;

  bool ok();  // allocates on first call
  uint64_t piece_for(uint64_t bytes) const;
  // The next slot, once its previous copy is complete; *prior: that copy's status.
  int acquire(Status* prior);
  uint8_t* buffer(int slot) { return buf_[slot]; }
  uint64_t piece_bytes() const { return piece_bytes_; }

 private:
  Backend& b_;
  uint64_t piece_bytes_;
  uint8_t* buf_[kSlots] = {};
  bool tried_ = false;
  int next_ = 0;
};

}  // namespace rgpu::server
