// tests/interpose/kernels/unserved.cu — a kernel that the sim backend has no host version of:
// launching it fails on the worker, inside a batch (lanes_test.cc).
extern "C" __global__ void rgpu_test_unserved(int* out) {
  out[0] = 1;
}
