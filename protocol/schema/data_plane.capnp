# rgpu data plane: what a client (libcuda.so.1) and a server worker say to each other.
#
# Every message travels in a frame (protocol/frame.h): a fixed 24-byte header, then one of the
# structs below as a Cap'n Proto flat message ("meta"), then optional raw payload bytes (copy
# data, module images, kernel parameters) that are never copied into the Cap'n Proto segment, so a
# reader can land them straight in their destination.
#
# Versioning: Hello carries the client's protocol version range; the server answers with the
# version it picked or an error naming both. A new field is added at the end with a new ordinal;
# anything that changes meaning bumps kProtocolVersion (protocol/version.h).
@0xd3b1a6e0c1f2a901;

$import "/capnp/c++.capnp".namespace("rgpu::wire");

struct Hello {
  protocolVersion @0 :UInt32;     # the newest version the client speaks
  minProtocolVersion @1 :UInt32;  # the oldest version the client still speaks
  lease @2 :Data;                 # a signed lease from the pool (protocol/lease.h), or empty
  secret @3 :Text;                # shared secret for pool-less development servers
  clientName @4 :Text;            # program name and pid, for logs and `rgpu session list`
  vaBase @5 :UInt64;              # where the client wants this device's allocations to start
  joinSession @6 :UInt64;         # 0: new session; else add a lane to this session
  joinKey @7 :Data;               # proof for joinSession (from HelloReply.laneKey)
}

struct HelloReply {
  ok @0 :Bool;
  protocolVersion @1 :UInt32;     # the version both ends now speak
  error @2 :Text;                 # why the hello was refused; names both versions on mismatch
  sessionId @3 :UInt64;
  laneKey @4 :Data;               # lets further lanes join this session
  deviceProps @5 :Data;           # rgpu::DeviceProps (protocol/device_props.h), fetched once
  vramLimit @6 :UInt64;           # the vGPU's memory cap in bytes
}

# One synchronous call: the op's fixed-size argument record (protocol/ops.def) in args.
struct Request {
  op @0 :UInt16;
  args @1 :Data;
  seq @2 :UInt64;                 # session-wide order across lanes (0: unordered; see below)
}

# The answer to a Request or to a Batch's flush: a CUresult and the op's result record.
struct Reply {
  status @0 :UInt32;              # CUresult
  results @1 :Data;
  errorText @2 :Text;             # what went wrong, for logs and RGPU_STATS
  deviceOutput @3 :Data;          # protocol 5+: device printf text made since the last reply;
                                  # the client writes it to the program's stdout before returning
  notice @4 :Text;                # protocol 8+: one line for the program's stderr (a drain
                                  # deadline ahead); said once
}

# Asynchronous calls, fire-and-forget. records holds `count` packed records, each
# {u16 op, u16 flags, u32 argsLen, u32 payloadLen, u32 pad, args, payload} padded to 8 bytes.
# The server sends no reply; the first error is kept and returned at the next sync call.
struct Batch {
  count @0 :UInt32;
  records @1 :Data;
  seq @2 :UInt64;                 # as Request.seq
}

# Order across lanes (DESIGN contract 4). A client with several lanes to one session numbers
# every Request and Batch it sends, on any lane, from one per-session counter starting at 1; the
# worker runs them in exactly that order (a frame waits until every lower number has run). A
# client takes a number only while holding the lane it writes on, and a synchronizing call first
# flushes every lane's pending batch, so it is numbered after every call that returned before
# it. seq 0 (a single-lane client) runs in arrival order.

# One piece of a bulk copy. The chunk's bytes follow the meta as the frame payload, unless zero
# is set (the whole range is zero) or compressed is set (payload is LZ4 of `length` bytes).
struct BulkChunk {
  offset @0 :UInt64;
  length @1 :UInt64;
  zero @2 :Bool;
  compressed @3 :Bool;
  last @4 :Bool;
}

# Client -> server: the session ends. Server -> client (protocol 7): the server ends it; the
# reason completes "session ended ...", e.g. "by an admin (alice): over quota".
struct Goodbye {
  reason @0 :Text;
}
