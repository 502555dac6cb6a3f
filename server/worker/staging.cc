// server/worker/staging.cc — see staging.h.
#include "server/worker/staging.h"

#include <algorithm>

namespace rgpu::server {

StagingRing::StagingRing(Backend& backend, uint64_t piece_bytes)
    : b_(backend), piece_bytes_(piece_bytes) {}

StagingRing::~StagingRing() {
  for (uint8_t* b : buf_) {
    if (!b) continue;
    b_.staged_wait(b);  // the device may still be reading or writing it
    b_.staging_free(b, piece_bytes_);
  }
}

bool StagingRing::ok() {
  if (!tried_) {
    tried_ = true;
    for (auto& b : buf_) b = static_cast<uint8_t*>(b_.staging_alloc(piece_bytes_));
  }
  return std::all_of(std::begin(buf_), std::end(buf_), [](uint8_t* b) { return b != nullptr; });
}

uint64_t StagingRing::piece_for(uint64_t bytes) const {
  constexpr uint64_t kMinPiece = 256 << 10;
  uint64_t quarter = (bytes / 4 + 4095) / 4096 * 4096;
  return std::min(piece_bytes_, std::max(kMinPiece, quarter));
}

int StagingRing::acquire(Status* prior) {
  int slot = next_;
  next_ = (next_ + 1) % kSlots;
  *prior = b_.staged_wait(buf_[slot]);
  return slot;
}

}  // namespace rgpu::server
