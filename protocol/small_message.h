// protocol/small_message.h — a Cap'n Proto builder for the data plane's small frame metas.
//
// Contract: SmallMessage's first segment (64 words, 512 bytes) lives inside the object, so a
// Request, Reply, Batch header or BulkChunk meta built on the stack never allocates; a message
// that outgrows it continues on the heap as any MallocMessageBuilder would.
#pragma once

#include <capnp/message.h>
#include <kj/array.h>

namespace rgpu {

struct SmallMessage {
  capnp::word space[64] = {};
  capnp::MallocMessageBuilder msg{kj::arrayPtr(space, 64)};
};

}  // namespace rgpu
