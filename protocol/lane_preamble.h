// protocol/lane_preamble.h — the plaintext routing preamble of a lane that joins a session over
// TLS.
//
// Contract: a client whose session is served over TLS opens each further lane (one per app
// thread, interpose/lane.h) by sending these kJoinPreambleBytes bytes before the TLS handshake:
// "RGPJ", a little-endian u32 preamble version (1), then the session id (u64, little-endian).
// They carry no secret: the server's supervisor routes the connection to the session's worker
// by them (server/lane_handoff.h), and the worker then runs the TLS handshake (client
// certificate checked as for any connection) and accepts the lane only with the session's join
// key, which travels inside TLS. Spoken from data-plane protocol version 4 on (version.h): a
// server offers lanes over TLS (a lane key in a TLS HelloReply) only to a client that negotiated
// 4 or later, and such a client only then sends a preamble.
// parse_join_preamble() returns the session id of a well-formed preamble, else 0.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace rgpu {

inline constexpr size_t kJoinPreambleBytes = 16;
inline constexpr char kJoinPreambleMagic[4] = {'R', 'G', 'P', 'J'};
inline constexpr uint32_t kJoinPreambleVersion = 1;

inline std::string join_preamble(uint64_t session) {
  std::string out(kJoinPreambleBytes, '\0');
  std::memcpy(out.data(), kJoinPreambleMagic, 4);
  for (int i = 0; i < 4; ++i)
    out[4 + i] = static_cast<char>((kJoinPreambleVersion >> (8 * i)) & 0xff);
  for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<char>((session >> (8 * i)) & 0xff);
  return out;
}

inline uint64_t parse_join_preamble(const uint8_t* b) {
  if (std::memcmp(b, kJoinPreambleMagic, 4) != 0) return 0;
  uint32_t version = 0;
  for (int i = 0; i < 4; ++i) version |= uint32_t(b[4 + i]) << (8 * i);
  if (version != kJoinPreambleVersion) return 0;
  uint64_t session = 0;
  for (int i = 0; i < 8; ++i) session |= uint64_t(b[8 + i]) << (8 * i);
  return session;
}

}  // namespace rgpu
