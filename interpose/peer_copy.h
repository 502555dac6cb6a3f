// interpose/peer_copy.h — copies between two devices, which live on two servers.
//
// Contract: copy_across_devices() moves n bytes from src (on src_dev) to dst (on dst_dev)
// through a bounded host staging buffer: each chunk is read from the source device with a sync
// DtoH (ordered after earlier work on that device's stream) and written to the destination with
// an async HtoD (ordered before later work there). `stream` (wire id) and `stream_dev` name the
// stream the caller asked for; it orders the side it belongs to, the other side uses its legacy
// stream. Returns when every chunk has been read and handed to the destination lane, so the call
// is synchronous towards the source even when the caller asked for an async copy.
#pragma once

#include <cstddef>
#include <cstdint>

#include "interpose/client.h"

namespace rgpu {

CUresult copy_across_devices(Device* dst_dev, uint64_t dst, Device* src_dev, uint64_t src, size_t n,
                             uint64_t stream, Device* stream_dev);

}  // namespace rgpu
