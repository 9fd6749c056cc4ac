// The sigmoid of every CUDA kernel, in the forms the kernels choose from: one weight, two or four
// weights sharing one reciprocal, and forms that move the exponential or the reciprocal from the
// MUFU unit (16 results a clock per SM) to the FMA pipe (128 a clock). The last were slower in the
// Hopper forward wherever measured (more instructions; KERNEL_NOTES.md, "The sigmoid's cost in the
// Hopper forward") and stay for kernel development. Every form keeps a relative error below 2e-5
// for every x (cuda_kernel_test checks each against float64 over [-80, 40]).
#pragma once

#include <cuda_runtime.h>

namespace flash_sigmoid::cuda::generic {

// sigmoid(x) = 1 / (1 + e^-x) for y = x * kSigmoidInputScale = -x log2(e) (callers fold the
// factor into the score's scale, bias and ALiBi slope): one ex2 and one rcp (MUFU ops), with a
// relative error below 4e-6 for every x (measured over [-80, 40], mostly the float rounding of
// y), so that weights far in the negative tail (ALiBi over long ranges, long contexts with
// b = -ln n where a typical weight is 1/n) keep their precision. The cheaper
// 0.5 tanh(x / 2) + 0.5 has an absolute error of about 4e-6, which is half of a weight at
// n = 128k and fails float16 tolerances from n = 64k (test_long_context.py; KERNEL_NOTES).
constexpr float kSigmoidInputScale = -1.4426950408889634f;  // -log2(e)

// The forward kernels take the weights times kWeightScale (unit = 1 / kWeightScale below, free:
// 1 / (unit (1 + a)) is one FMA and the reciprocal) and scale the output back: weights near 1/n
// of long contexts would otherwise be float16 subnormals (below 6.1e-5) when P is rounded for P V,
// and lose digits. 2^15 keeps the largest weight (1) under float16's 65504.
__host__ __device__ constexpr float pow2(int e) {
    return e >= 0 ? float(1ull << e) : 1.f / float(1ull << -e);
}
constexpr int kLog2WeightUnit = -15;
constexpr float kWeightScale = pow2(-kLog2WeightUnit);
constexpr float kWeightUnit = pow2(kLog2WeightUnit);

__device__ __forceinline__ float ex2_approx(float y) {
    float a;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(a) : "f"(y));
    return a;
}
__device__ __forceinline__ float rcp_approx(float d) {
    float r;
    asm("rcp.approx.ftz.f32 %0, %1;\n" : "=f"(r) : "f"(d));
    return r;
}
__device__ __forceinline__ float min_nan(float y, float cap) {
    float c;
    asm("min.NaN.f32 %0, %1, %2;\n" : "=f"(c) : "f"(y), "f"(cap));
    return c;
}

// 1 / d for a positive normal d on the FMA pipe: a first guess from the float's bits (relative
// error below 5.1e-2 for every mantissa), a cubic step (1.3e-4) and a Newton step (7.6e-8; all
// three measured over every mantissa). Five FMAs and an integer subtraction instead of a MUFU op.
__device__ __forceinline__ float rcp_fma(float d) {
    float x = __int_as_float(0x7EF311C3 - __float_as_int(d));
    float e = fmaf(-d, x, 1.f);
    x = fmaf(x, fmaf(e, e, e), x);  // x (1 + e + e^2)
    e = fmaf(-d, x, 1.f);
    return fmaf(x, e, x);
}

// unit (1 + 2^y) with unit = 2^kLog2Unit on the FMA pipe, for y <= 64 (callers cap it; NaN passes):
// y = n + f with n = round(y) (adding 1.5 * 2^23 leaves n in the low mantissa bits) and
// |f| <= 1/2; 2^f by a degree-4 polynomial (relative error 2.7e-6 over [-1/2, 1/2] in float32);
// 2^(n + kLog2Unit) built from n's bits. y is raised to -100 first so that the power is a normal
// float (2^-100 next to 1 is nothing). Ten FMA-pipe and integer ops instead of one MUFU op.
template <int kLog2Unit>
__device__ __forceinline__ float unit_one_plus_ex2_fma(float y) {
    static_assert(kLog2Unit > -26 && kLog2Unit < 63, "2^(n + kLog2Unit) must stay normal");
    float c;
    asm("max.NaN.f32 %0, %1, -100.0;\n" : "=f"(c) : "f"(y));
    constexpr float kRound = 12582912.f;  // 1.5 * 2^23
    const float t = c + kRound;
    const float f = c - (t - kRound);
    const float p = fmaf(
        fmaf(fmaf(fmaf(9.570068679749966e-3f, f, 5.5917806923389435e-2f), f, 0.240247443318367f), f,
             0.6931218504905701f),
        f, 0.9999992847442627f);
    // The low nine bits of t's pattern are n (two's complement): shifted into the exponent field.
    const float power = __int_as_float((__float_as_int(t) << 23) + ((127 + kLog2Unit) << 23));
    return fmaf(p, power, pow2(kLog2Unit));
}

// sigmoid(x) / unit.
__device__ __forceinline__ float sigmoid_of_scaled(float y, float unit = 1.f) {
    return rcp_approx(fmaf(unit, ex2_approx(y), unit));
}

// Two sigmoids (each / unit) with one reciprocal: r = 1 / (d0 d1), d_i = unit (1 + a_i),
// sigmoid_i / unit = r d_(1-i); three MUFU ops for two weights instead of four. y is capped at 63
// first (NaN passes through) so that the product stays finite; the cap only lifts weights below
// 2^-63 (1e-19) to 2^-63. kRcpOnFma: the reciprocal by rcp_fma (two MUFU ops for two weights).
template <bool kRcpOnFma = false>
__device__ __forceinline__ void sigmoid2_of_scaled(float& y0, float& y1, float unit = 1.f) {
    const float c0 = min_nan(y0, 63.f), c1 = min_nan(y1, 63.f);
    const float d0 = fmaf(unit, ex2_approx(c0), unit), d1 = fmaf(unit, ex2_approx(c1), unit);
    const float r = kRcpOnFma ? rcp_fma(d0 * d1) : rcp_approx(d0 * d1);
    y0 = r * d1;
    y1 = r * d0;
}

// Four sigmoids (each / kWeightUnit) with one reciprocal: r = 1 / (d0 d1 d2 d3), sigmoid_i / unit
// = r times the other three d's (shared as r d23 and r d01); 1.25 MUFU ops and 3.25 FMA-pipe ops
// a weight against the pair's 1.5 and 3.5. With unit = 2^-15 each d lies in [2^-15, 2^-15 (1 +
// 2^46)], so capping y at 46 keeps the product finite (and its reciprocal normal); weights below
// 2^-46 (1.4e-14) read 2^-46. kRcpOnFma: the reciprocal by rcp_fma; kFmaExps: how many of the four
// exponentials (the last ones) unit_one_plus_ex2_fma computes on the FMA pipe.
template <bool kRcpOnFma = false, int kFmaExps = 0>
__device__ __forceinline__ void sigmoid4_of_scaled(float& y0, float& y1, float& y2, float& y3) {
    static_assert(kFmaExps >= 0 && kFmaExps <= 4, "kFmaExps counts of four exponentials");
    float d[4];
    const float c[4] = {min_nan(y0, 46.f), min_nan(y1, 46.f), min_nan(y2, 46.f), min_nan(y3, 46.f)};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        d[i] = i >= 4 - kFmaExps ? unit_one_plus_ex2_fma<kLog2WeightUnit>(c[i])
                                 : fmaf(kWeightUnit, ex2_approx(c[i]), kWeightUnit);
    }
    const float d01 = d[0] * d[1], d23 = d[2] * d[3];
    const float r = kRcpOnFma ? rcp_fma(d01 * d23) : rcp_approx(d01 * d23);
    const float t01 = r * d23, t23 = r * d01;
    y0 = t01 * d[1];
    y1 = t01 * d[0];
    y2 = t23 * d[3];
    y3 = t23 * d[2];
}

}  // namespace flash_sigmoid::cuda::generic
