// server/worker/session_graphs.cc — the session's handlers for graphs kept by the worker
// (ops.def GraphUpload, GraphLaunch, GraphDestroy; protocol 10): a graph launch is one record.
#include "protocol/batch_record.h"
#include "server/worker/session.h"
#include "server/worker/session_internal.h"

namespace rgpu::server {

Status Session::on_GraphUpload(const op::GraphUpload::Args& a, OpPayload in,
                               op::GraphUpload::Result&, OpReply&) {
  RGPU_TRY(graphs_.fresh(a.graph));
  if (in.len == 0 || a.count == 0)
    return bad(CUDA_ERROR_INVALID_VALUE, "GraphUpload holds no records");
  if (std::string fault = check_batch(in.data, in.len, a.count); !fault.empty())
    return bad(CUDA_ERROR_INVALID_VALUE, "GraphUpload's records: " + fault);
  BatchReader records(in.data, in.len, a.count);
  BatchRecord r;
  while (records.next(&r)) {
    auto oc = op_class(r.op);
    const bool graph_op = r.op == static_cast<uint16_t>(Op::GraphUpload) ||
                          r.op == static_cast<uint16_t>(Op::GraphLaunch) ||
                          r.op == static_cast<uint16_t>(Op::GraphDestroy);
    if (!oc || *oc != OpClass::kAsync || graph_op)
      return bad(CUDA_ERROR_INVALID_VALUE,
                 "GraphUpload holds op " + std::to_string(r.op) +
                     ", which a kept graph cannot run (only async ops other than graph ops)");
    if (r.op == static_cast<uint16_t>(Op::MemcpyHtoD)) {
      op::MemcpyHtoD::Args c;
      if (decode_record(r.args, r.args_len, &c) && (c.flags & kCopyFlagBulk))
        return bad(CUDA_ERROR_INVALID_VALUE, "GraphUpload holds a bulk copy");
    }
  }
  if (graph_bytes_ + in.len > kMaxSessionGraphBytes)
    return bad(CUDA_ERROR_OUT_OF_MEMORY, "the session's kept graphs would hold more than " +
                                             std::to_string(kMaxSessionGraphBytes >> 20) +
                                             " MiB of records");
  KeptGraph& g = graphs_.add(a.graph);
  g.records.assign(in.data, in.data + in.len);
  g.count = a.count;
  graph_bytes_ += in.len;
  return Status::Ok();
}

Status Session::on_GraphLaunch(const op::GraphLaunch::Args& a, OpPayload, op::GraphLaunch::Result&,
                               OpReply&) {
  Status st;
  KeptGraph* g = graphs_.owned(a.graph, &st);
  if (!g) return st;
  if (replaying_) return bad(CUDA_ERROR_INVALID_VALUE, "GraphLaunch inside a graph");
  replaying_ = true;
  BatchReader records(g->records.data(), g->records.size(), g->count);
  BatchRecord r;
  while (records.next(&r)) async(r.op, r.args, r.args_len, r.payload, r.payload_len);
  replaying_ = false;
  return Status::Ok();
}

Status Session::on_GraphDestroy(const op::GraphDestroy::Args& a, OpPayload,
                                op::GraphDestroy::Result&, OpReply&) {
  Status st;
  KeptGraph* g = graphs_.owned(a.graph, &st);
  if (!g) return st;
  graph_bytes_ -= g->records.size();
  graphs_.erase(a.graph);
  return Status::Ok();
}

}  // namespace rgpu::server
