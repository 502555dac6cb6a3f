// interpose/shim_main.cc — the shared object's own translation unit.
//
// libcuda.so.1 is rgpu_interpose_core linked whole; this file only names the library for
// `strings`/debuggers. Exports are restricted to cu* by exports.map.
extern "C" __attribute__((used)) const char rgpu_shim_ident[] =
    "rgpu libcuda.so.1 (remote GPU shim)";
