// server/worker/session_vmm.cc — the session's handlers for the virtual memory ops of ops.def
// (MemCreate ... MemUnmap, protocol 6): every size, offset and address is a multiple of
// kVmmGranularity, handles are this session's, a mapping lies inside one reservation of this
// session and overlaps no other mapping, before the backend sees the op.
#include "server/worker/session.h"
#include "server/worker/session_internal.h"

namespace rgpu::server {
namespace {

Status granular(uint64_t v, const char* what) {
  if (v % kVmmGranularity == 0) return Status::Ok();
  return bad(CUDA_ERROR_INVALID_VALUE,
             std::string(what) + " " + hex(v) + " is not a multiple of the " +
                 std::to_string(kVmmGranularity >> 20) + " MiB granularity");
}

}  // namespace

Status Session::on_MemCreate(const op::MemCreate::Args& a, OpPayload, op::MemCreate::Result&,
                             OpReply&) {
  if (a.bytes == 0) return bad(CUDA_ERROR_INVALID_VALUE, "cuMemCreate of 0 bytes");
  RGPU_TRY(granular(a.bytes, "cuMemCreate size"));
  RGPU_TRY(phys_.fresh(a.handle));
  RGPU_TRY(backend_.vmm_create(a.handle, a.bytes));
  phys_.add(a.handle, PhysAlloc{a.bytes});
  meter_.mem_changed(backend_.mem_used());
  return Status::Ok();
}

Status Session::on_MemRelease(const op::MemRelease::Args& a, OpPayload, op::MemRelease::Result&,
                              OpReply&) {
  RGPU_TRY(phys_.owned(a.handle));
  RGPU_TRY(backend_.vmm_release(a.handle));
  phys_.erase(a.handle);  // its mappings stay valid until unmapped (the backend keeps the memory)
  meter_.mem_changed(backend_.mem_used());
  return Status::Ok();
}

Status Session::on_AddressReserve(const op::AddressReserve::Args& a, OpPayload,
                                  op::AddressReserve::Result& res, OpReply&) {
  if (a.bytes == 0) return bad(CUDA_ERROR_INVALID_VALUE, "cuMemAddressReserve of 0 bytes");
  RGPU_TRY(granular(a.bytes, "cuMemAddressReserve size"));
  RGPU_TRY(granular(a.hint, "cuMemAddressReserve address"));
  if (a.alignment & (a.alignment - 1))
    return bad(CUDA_ERROR_INVALID_VALUE,
               "cuMemAddressReserve alignment " + hex(a.alignment) + " is not a power of two");
  RGPU_TRY(backend_.vmm_reserve(a.bytes, a.alignment, a.hint, &res.va));
  reservations_[res.va] = a.bytes;
  return Status::Ok();
}

Status Session::on_AddressFree(const op::AddressFree::Args& a, OpPayload, op::AddressFree::Result&,
                               OpReply&) {
  auto it = reservations_.find(a.va);
  if (it == reservations_.end() || it->second != a.bytes)
    return bad(CUDA_ERROR_INVALID_VALUE, "cuMemAddressFree of " + hex(a.va) + "+" +
                                             std::to_string(a.bytes) +
                                             ", which is not a reservation of this session");
  auto m = mapped_.lower_bound(a.va);
  if (m != mapped_.end() && m->first < a.va + a.bytes)
    return bad(CUDA_ERROR_INVALID_VALUE,
               "cuMemAddressFree of " + hex(a.va) + " while " + hex(m->first) + " is still mapped");
  RGPU_TRY(backend_.vmm_free(a.va, a.bytes));
  reservations_.erase(it);
  return Status::Ok();
}

Status Session::on_MemMap(const op::MemMap::Args& a, OpPayload, op::MemMap::Result&, OpReply&) {
  if (a.bytes == 0) return bad(CUDA_ERROR_INVALID_VALUE, "cuMemMap of 0 bytes");
  RGPU_TRY(granular(a.va, "cuMemMap address"));
  RGPU_TRY(granular(a.bytes, "cuMemMap size"));
  RGPU_TRY(granular(a.offset, "cuMemMap offset"));
  Status st;
  const PhysAlloc* p = phys_.owned(a.handle, &st);
  if (!p) return st;
  if (a.offset > p->bytes || a.bytes > p->bytes - a.offset)
    return bad(CUDA_ERROR_INVALID_VALUE, "cuMemMap of " + std::to_string(a.bytes) +
                                             " bytes at offset " + std::to_string(a.offset) +
                                             " of a " + std::to_string(p->bytes) +
                                             "-byte allocation");
  auto r = reservations_.upper_bound(a.va);
  if (r == reservations_.begin() || (--r, a.va - r->first >= r->second) ||
      a.bytes > r->second - (a.va - r->first))
    return bad(CUDA_ERROR_INVALID_VALUE, "cuMemMap of " + hex(a.va) + "+" +
                                             std::to_string(a.bytes) +
                                             " outside this session's reservations");
  auto m = mapped_.lower_bound(a.va);
  if ((m != mapped_.end() && m->first < a.va + a.bytes) ||
      (m != mapped_.begin() && std::prev(m)->first + std::prev(m)->second.bytes > a.va))
    return bad(CUDA_ERROR_INVALID_VALUE,
               "cuMemMap of " + hex(a.va) + " overlaps memory already mapped");
  RGPU_TRY(backend_.vmm_map(a.va, a.bytes, a.offset, a.handle));
  mapped_[a.va] = Mapping{a.bytes, a.handle};
  return Status::Ok();
}

Status Session::on_MemUnmap(const op::MemUnmap::Args& a, OpPayload, op::MemUnmap::Result&,
                            OpReply&) {
  // The range must be exactly a run of whole mappings.
  uint64_t at = a.va;
  for (auto m = mapped_.find(a.va); at < a.va + a.bytes; m = mapped_.find(at)) {
    if (m == mapped_.end() || m->second.bytes > a.va + a.bytes - at)
      return bad(CUDA_ERROR_INVALID_VALUE, "cuMemUnmap of " + hex(a.va) + "+" +
                                               std::to_string(a.bytes) +
                                               " is not a run of whole mappings of this session");
    at += m->second.bytes;
  }
  if (a.bytes == 0) return bad(CUDA_ERROR_INVALID_VALUE, "cuMemUnmap of 0 bytes");
  RGPU_TRY(backend_.vmm_unmap(a.va, a.bytes));
  for (at = a.va; at < a.va + a.bytes;) {
    auto m = mapped_.find(at);
    at += m->second.bytes;
    mapped_.erase(m);
  }
  meter_.mem_changed(backend_.mem_used());
  return Status::Ok();
}

}  // namespace rgpu::server
