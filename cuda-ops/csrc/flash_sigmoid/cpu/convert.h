// Element loads and stores between the storage types and float32.
#pragma once

#include <cstdint>
#include <cstring>

#include "../flash_sigmoid.h"

inline float bf16_to_float(uint16_t h) {
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Round to nearest even; NaN stays NaN.
inline uint16_t float_to_bf16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) {
        return static_cast<uint16_t>((bits >> 16) | 0x0040u);
    }
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<uint16_t>(bits >> 16);
}

inline float half_to_float(uint16_t h) {
    _Float16 x;
    std::memcpy(&x, &h, 2);
    return static_cast<float>(x);
}

inline uint16_t float_to_half(float f) {
    _Float16 x = static_cast<_Float16>(f);
    uint16_t h;
    std::memcpy(&h, &x, 2);
    return h;
}

// Reads n elements at stride `stride` (elements) as float32.
inline void load_row(fs_dtype dtype, const void* base, int64_t offset, int64_t stride, int64_t n,
                     float* out) {
    switch (dtype) {
        case FS_FLOAT32: {
            const float* p = static_cast<const float*>(base) + offset;
            if (stride == 1) {
                std::memcpy(out, p, sizeof(float) * n);
            } else {
                for (int64_t i = 0; i < n; ++i) out[i] = p[i * stride];
            }
            break;
        }
        case FS_FLOAT16: {
            const uint16_t* p = static_cast<const uint16_t*>(base) + offset;
            for (int64_t i = 0; i < n; ++i) out[i] = half_to_float(p[i * stride]);
            break;
        }
        case FS_BFLOAT16: {
            const uint16_t* p = static_cast<const uint16_t*>(base) + offset;
            for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_float(p[i * stride]);
            break;
        }
    }
}

// Writes n float32 values at stride `stride` in the storage type.
inline void store_row(fs_dtype dtype, void* base, int64_t offset, int64_t stride, int64_t n,
                      const float* in) {
    switch (dtype) {
        case FS_FLOAT32: {
            float* p = static_cast<float*>(base) + offset;
            if (stride == 1) {
                std::memcpy(p, in, sizeof(float) * n);
            } else {
                for (int64_t i = 0; i < n; ++i) p[i * stride] = in[i];
            }
            break;
        }
        case FS_FLOAT16: {
            uint16_t* p = static_cast<uint16_t*>(base) + offset;
            for (int64_t i = 0; i < n; ++i) p[i * stride] = float_to_half(in[i]);
            break;
        }
        case FS_BFLOAT16: {
            uint16_t* p = static_cast<uint16_t*>(base) + offset;
            for (int64_t i = 0; i < n; ++i) p[i * stride] = float_to_bf16(in[i]);
            break;
        }
    }
}
