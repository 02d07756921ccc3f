// The native function of both workers, compiled twice by build.rs: with the `cc` crate into a
// static library linked into the program (the FFI worker, `native_sum`), and with
// `g++ -shared -fPIC` into libbaton_native_sum.so, which the dynamic-loading worker
// (`native_sum_dylib`) opens at run time with `libloading`, as the Conductor Python SDK's
// example builds its `lib.so` and loads it with ctypes' `cdll.LoadLibrary`.
//
// get_sum(a, b) returns a + b, as the C/C++ example of the Conductor Python SDK does, with one
// difference: a sum that does not fit in an int32_t would be undefined behaviour, so the
// function refuses it by calling abort(), as native libraries do on a failed assertion. Any
// pair whose sum overflows aborts the process, e.g. a = 2147483647, b = 1: that is how the
// tests crash a worker process on purpose.

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
