// ParamLayout wire encoding (the ModuleGetFunction reply payload).
#include "protocol/image/param_layout.h"

#include <gtest/gtest.h>

#include "artifacts.h"

namespace rgpu::image::test {
namespace {

TEST(ParamLayoutWire, RoundTripAndExactBytes) {
  const ParamLayout va = vector_add_layout();
  std::vector<uint8_t> wire = encode_param_layout(va);
  const std::vector<uint8_t> want = {4, 0, 0,  0, 0, 0, 0, 0, 8, 0, 0,  0, 8, 0, 0, 0, 8, 0,
                                     0, 0, 16, 0, 0, 0, 8, 0, 0, 0, 24, 0, 0, 0, 4, 0, 0, 0};
  EXPECT_EQ(wire, want);
  Result<ParamLayout> back = decode_param_layout(wire.data(), wire.size());
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(*back, va);

  const ParamLayout mixed = mixed_layout();
  wire.clear();
  wire.push_back(0xee);  // encode appends
  encode_param_layout(mixed, &wire);
  back = decode_param_layout(wire.data() + 1, wire.size() - 1);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(*back, mixed);

  ParamLayout none;
  wire = encode_param_layout(none);
  EXPECT_EQ(wire.size(), 4u);
  back = decode_param_layout(wire.data(), wire.size());
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->params.empty());
  EXPECT_EQ(back->param_bytes, 0u);
}

TEST(ParamLayoutWire, RejectsMalformed) {
  std::vector<uint8_t> wire = encode_param_layout(mixed_layout());
  for (size_t n = 0; n < wire.size(); ++n) {
    EXPECT_FALSE(decode_param_layout(wire.data(), n).ok()) << n;
  }
  std::vector<uint8_t> longer = wire;
  longer.push_back(0);
  EXPECT_FALSE(decode_param_layout(longer.data(), longer.size()).ok());
  EXPECT_FALSE(decode_param_layout(nullptr, 4).ok());

  // Overlapping parameters.
  ParamLayout overlap{{{0, 8}, {4, 4}}, 8};
  EXPECT_FALSE(validate_param_layout(overlap).empty());
  wire = encode_param_layout(overlap);
  EXPECT_FALSE(decode_param_layout(wire.data(), wire.size()).ok());
  // Past the parameter space.
  ParamLayout huge{{{0, 8}, {kMaxParamSpace, 4}}, 0};
  wire = encode_param_layout(huge);
  EXPECT_FALSE(decode_param_layout(wire.data(), wire.size()).ok());
  // A count the payload cannot hold, and one above the limit.
  std::vector<uint8_t> big = {0xff, 0xff, 0xff, 0xff};
  EXPECT_FALSE(decode_param_layout(big.data(), big.size()).ok());
  // param_bytes smaller than the parameters.
  EXPECT_FALSE(validate_param_layout(ParamLayout{{{0, 8}}, 4}).empty());
  EXPECT_TRUE(validate_param_layout(vector_add_layout()).empty());
}

}  // namespace
}  // namespace rgpu::image::test
