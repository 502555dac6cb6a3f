// protocol/handshake.cc — the hello exchange (see handshake.h).
#include "protocol/handshake.h"

#include <capnp/message.h>

#include "protocol/data_plane.capnp.h"
#include "protocol/frame.h"

namespace rgpu {

namespace {
kj::ArrayPtr<const kj::byte> bytes(const std::string& s) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}
std::string str(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}
}  // namespace

HelloAccepted client_handshake(net::Stream& s, const HelloParams& p) {
  capnp::MallocMessageBuilder mb;
  auto h = mb.initRoot<wire::Hello>();
  h.setProtocolVersion(p.max_version);
  h.setMinProtocolVersion(p.min_version);
  h.setLease(bytes(p.lease));
  h.setSecret(p.secret);
  h.setClientName(p.client_name);
  h.setVaBase(p.va_base);
  h.setJoinSession(p.join_session);
  h.setJoinKey(bytes(p.join_key));
  write_frame(s, FrameKind::kHello, mb);
  InFrame f = read_frame(s);
  if (f.kind != FrameKind::kHelloReply) {
    skip_payload(s, f.payload_len);
    throw HandshakeError("server answered the hello with an unexpected frame");
  }
  skip_payload(s, f.payload_len);
  auto reader = f.reader();
  auto r = reader.getRoot<wire::HelloReply>();
  if (!r.getOk())
    throw HandshakeError("server refused the session: " + std::string(r.getError().cStr()));
  HelloAccepted a;
  a.version = r.getProtocolVersion();
  if (a.version < p.min_version || a.version > p.max_version)
    throw HandshakeError("server picked protocol version " + std::to_string(a.version) +
                         ", which this client (" + std::to_string(p.min_version) + ".." +
                         std::to_string(p.max_version) + ") does not speak");
  a.session_id = r.getSessionId();
  a.lane_key = str(r.getLaneKey());
  a.device_props = str(r.getDeviceProps());
  a.vram_limit = r.getVramLimit();
  return a;
}

HelloReceived read_hello(net::Stream& s, uint32_t our_min, uint32_t our_max) {
  // A Hello is small and carries no payload: nothing a stranger sends before authenticating can
  // make this end read or allocate more than kMaxHelloBytes.
  InFrame f = read_frame(s, kMaxHelloBytes, kMaxHelloBytes);
  skip_payload(s, f.payload_len);
  if (f.kind != FrameKind::kHello) throw HandshakeError("expected a Hello frame first");
  if (f.payload_len != 0) throw HandshakeError("a Hello carries no payload");
  HelloReceived out;
  try {
    auto reader = f.reader();
    auto h = reader.getRoot<wire::Hello>();
    out.params.max_version = h.getProtocolVersion();
    out.params.min_version = h.getMinProtocolVersion();
    out.params.lease = str(h.getLease());
    out.params.secret = h.getSecret();
    out.params.client_name = h.getClientName();
    out.params.va_base = h.getVaBase();
    out.params.join_session = h.getJoinSession();
    out.params.join_key = str(h.getJoinKey());
  } catch (const kj::Exception& e) {
    throw HandshakeError("malformed Hello: " + std::string(e.getDescription().cStr()));
  }
  if (out.params.min_version == 0) out.params.min_version = out.params.max_version;
  out.negotiated = negotiate(out.params.min_version, out.params.max_version, our_min, our_max);
  return out;
}

void send_hello_reply(net::Stream& s, const HelloAccepted& a) {
  capnp::MallocMessageBuilder mb;
  auto r = mb.initRoot<wire::HelloReply>();
  r.setOk(true);
  r.setProtocolVersion(a.version);
  r.setSessionId(a.session_id);
  r.setLaneKey(bytes(a.lane_key));
  r.setDeviceProps(bytes(a.device_props));
  r.setVramLimit(a.vram_limit);
  write_frame(s, FrameKind::kHelloReply, mb);
}

void refuse_hello(net::Stream& s, const std::string& reason, uint32_t our_version) {
  capnp::MallocMessageBuilder mb;
  auto r = mb.initRoot<wire::HelloReply>();
  r.setOk(false);
  r.setProtocolVersion(our_version);
  r.setError(reason);
  write_frame(s, FrameKind::kHelloReply, mb);
}

}  // namespace rgpu
