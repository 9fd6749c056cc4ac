// Status returns of the C ABI (flash_sigmoid.h): the code, with the reason printed into the
// caller's message buffer. Shared by the CPU and CUDA API layers.
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdio>

namespace flash_sigmoid {

inline int fail(int code, char* message, size_t size, const char* format, ...) {
    if (message && size > 0) {
        va_list args;
        va_start(args, format);
        std::vsnprintf(message, size, format, args);
        va_end(args);
    }
    return code;
}

}  // namespace flash_sigmoid
