// protocol/version.h — the data-plane protocol version and how two ends agree on one.
//
// Contract: each end states the range of versions it speaks. negotiate() picks the newest version
// in both ranges, or returns an error that names both ranges. Bump kProtocolVersion whenever the
// meaning of a frame, a schema field or an op record changes; keep kMinProtocolVersion at the
// oldest version this build still serves.
#pragma once

#include <cstdint>
#include <string>

namespace rgpu {

// History: 1 = first data plane. 2 = per-session sequence numbers on Request/Batch (lanes),
// bulk copy flags, ModuleLoad by image hash. 3 = a hash-only ModuleLoad's miss is told by
// ModuleLoad.Result.image_missing, no longer by CUDA_ERROR_NOT_FOUND (a 2 client would take the
// miss for a load, a 2 server's NOT_FOUND for a real error). Nothing speaking 1 or 2 was ever
// released, so 3 is also the oldest version served. 4 = lanes join a TLS session too: a
// joining TLS lane starts with a plaintext routing preamble (lane_preamble.h), and a TLS
// HelloReply carries a lane key only for a client at 4 or later (a 3 client keeps one lane).
// 5 = Reply.deviceOutput: device printf text reaches the program's stdout (a server speaking
// to a 3 or 4 client, which would drop the field unread, logs the text instead). 6 = 2-D copy
// and memset ops (Memcpy2DHtoD/DtoH/DtoD, Memset2D), MemFreeAsync and the virtual memory ops
// (MemCreate ... MemUnmap); a client speaking to a 5
// server makes a 2-D copy of row-by-row 1-D ops and a stream-ordered free of a stream sync and a
// MemFree instead. 7 = the server says why it ends a session: before closing each lane it sends
// a Goodbye whose reason completes "session ended ..." (an admin's kill, a drain deadline, a
// revoked token, a shutdown); a 6 client would take the frame for a framing error, so it is
// sent only to a 7 client.
// 8 = Reply.notice: the server warns a running program, on its stderr, that its session will end
// (a drain deadline ahead); a 7 client would drop the field unread, so it is logged instead.
// 9 = ModuleLoadCached: a client offers an image's SHA-256 before its bytes (the provider's
// image cache); an 8 server would answer the unknown op with an error, so it is sent only to 9.
// 10 = ModuleLoadDeferred and MemFreeDeferred: a module's first load (with its bytes) and
// cuMemFree are batched, so start-up and exit cost fewer round trips; GraphUpload, GraphLaunch
// and GraphDestroy: the worker keeps a graph's records and a launch is one record. A 9 server
// would refuse the unknown ops, so they are sent only to 10 (a 9 server gets ModuleLoad,
// MemFree and graphs replayed record by record).
// 11 = MemAllocAt and ModuleGetFunctionDeferred: cuMemAlloc placed by the client and a
// function lookup with the client's parsed layout, both batched, so start-up costs no round
// trip for them; module images may travel as a ZSTD frame (image/image_zstd.h). A 10 server
// gets MemAlloc, ModuleGetFunction and images as they are.
inline constexpr uint32_t kProtocolVersion = 11;
inline constexpr uint32_t kMinProtocolVersion = 3;

struct Negotiated {
  bool ok = false;
  uint32_t version = 0;
  std::string error;
};

// Picks the newest version both ends speak. `peer_min..peer_max` is what the peer said.
inline Negotiated negotiate(uint32_t peer_min, uint32_t peer_max,
                            uint32_t our_min = kMinProtocolVersion,
                            uint32_t our_max = kProtocolVersion) {
  Negotiated n;
  if (peer_min > peer_max) peer_min = peer_max;
  uint32_t hi = peer_max < our_max ? peer_max : our_max;
  uint32_t lo = peer_min > our_min ? peer_min : our_min;
  if (hi >= lo) {
    n.ok = true;
    n.version = hi;
    return n;
  }
  n.error = "protocol version mismatch: peer speaks " + std::to_string(peer_min) + ".." +
            std::to_string(peer_max) + ", this end speaks " + std::to_string(our_min) + ".." +
            std::to_string(our_max);
  return n;
}

}  // namespace rgpu
