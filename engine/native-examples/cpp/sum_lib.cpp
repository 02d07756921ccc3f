// The shared library of the dynamic-loading worker (`native_sum_dylib`): build.rs compiles it
// into libbaton_native_sum.so (the Conductor Python SDK's example builds the same `lib.so`
// with `g++ -shared -fPIC`), and the worker loads it at run time with `libloading`, as the
// SDK's worker does with ctypes' `cdll.LoadLibrary`.
//
// get_sum(a, b) returns a + b and, like checked_sum.cpp, calls abort() when the sum does not
// fit in an int32_t (e.g. a = 2147483647, b = 1).

#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int32_t get_sum(const int32_t a, const int32_t b) {
    const int64_t sum = static_cast<int64_t>(a) + static_cast<int64_t>(b);
    if (sum > INT32_MAX || sum < INT32_MIN) {
        std::fprintf(stderr, "get_sum(%d, %d): the sum overflows int32_t; aborting\n", a, b);
        std::abort();
    }
    return static_cast<int32_t>(sum);
}
