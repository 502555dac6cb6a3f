// The Class column of entry_points.def is enforced (interpose/entry_class.h): inside a kLocal
// entry no path to the server sends a byte; it returns CUDA_ERROR_NOT_SUPPORTED instead. And the
// P_OUT column makes NULL outputs CUDA_ERROR_INVALID_VALUE in the exported symbols, while
// P_OUT_OPT outputs may be NULL.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "interpose/entry_class.h"
#include "interpose/lane.h"
#include "protocol/transport.h"
#include "tests/interpose/shim_loader.h"

namespace rgpu {
namespace {

bool peer_got_bytes(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 100) > 0;
}

TEST(EntryClass, ALocalEntryCannotReachTheServer) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  // Lane sets live until process exit (lane.h: the flusher keeps a pointer), so this one does too.
  LaneSet& set = *new LaneSet(net::adopt(sv[0]), "test", LaneSet::Join{});
  {
    LocalEntryScope local("cuCtxGetFlags");
    op::CtxSynchronize::Args sync{};
    EXPECT_EQ(set.call<op::CtxSynchronize>(sync), CUDA_ERROR_NOT_SUPPORTED);
    op::Memset::Args ms{0x1000, 4, 0, 1, 0};
    EXPECT_EQ(set.enqueue<op::Memset>(ms), CUDA_ERROR_NOT_SUPPORTED);
    uint8_t buf[16] = {};
    EXPECT_EQ(set.htod(0x1000, buf, sizeof buf, 0), CUDA_ERROR_NOT_SUPPORTED);
    EXPECT_EQ(set.dtoh(buf, 0x1000, sizeof buf, 0), CUDA_ERROR_NOT_SUPPORTED);
    EXPECT_EQ(set.flush(), CUDA_SUCCESS);  // nothing was batched
    EXPECT_FALSE(peer_got_bytes(sv[1])) << "a local entry's call reached the socket";
    {
      LocalEntryScope remote(nullptr);  // a kSync entry called back from inside the local one
      EXPECT_EQ(set.enqueue<op::Memset>(ms), CUDA_SUCCESS);
    }
  }
  EXPECT_EQ(t_local_entry, nullptr);
  EXPECT_EQ(set.flush(), CUDA_SUCCESS);
  EXPECT_TRUE(peer_got_bytes(sv[1])) << "the kSync scope's memset was not sent";
}

TEST(EntrySpec, NullOutputsAreInvalidValueOptionalOnesMayBeNull) {
  auto version = test::sym<decltype(&::cuDriverGetVersion)>("cuDriverGetVersion");
  auto name = test::sym<decltype(&::cuGetErrorName)>("cuGetErrorName");
  auto proc = test::sym<decltype(&::cuGetProcAddress_v2)>("cuGetProcAddress_v2");
  ASSERT_TRUE(version && name && proc);
  EXPECT_EQ(version(nullptr), CUDA_ERROR_INVALID_VALUE);
  int v = 0;
  EXPECT_EQ(version(&v), CUDA_SUCCESS);
  EXPECT_GT(v, 0);
  EXPECT_EQ(name(CUDA_ERROR_INVALID_VALUE, nullptr), CUDA_ERROR_INVALID_VALUE);
  void* pfn = nullptr;
  EXPECT_EQ(proc("cuInit", nullptr, 13000, 0, nullptr), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(proc("cuInit", &pfn, 13000, 0, nullptr), CUDA_SUCCESS);  // symbolStatus is optional
  EXPECT_NE(pfn, nullptr);
}

}  // namespace
}  // namespace rgpu
