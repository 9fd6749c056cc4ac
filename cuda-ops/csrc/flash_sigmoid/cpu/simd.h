// A float vector for the CPU kernels, one definition per instruction set. The translation unit
// that includes this header defines FS_ISA_AVX512, FS_ISA_AVX2 or neither (portable code), and
// wraps the include in a namespace of its own, so that the three builds never merge.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(FS_ISA_AVX512) || defined(FS_ISA_AVX2)
#include <immintrin.h>
#endif

#if defined(FS_ISA_AVX512)

struct VecF {
    static constexpr int kWidth = 16;
    __m512 v;

    static VecF load(const float* p) { return {_mm512_loadu_ps(p)}; }
    static VecF broadcast(float x) { return {_mm512_set1_ps(x)}; }
    static VecF zero() { return {_mm512_setzero_ps()}; }
    static VecF iota() {
        return {_mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)};
    }
    void store(float* p) const { _mm512_storeu_ps(p, v); }
    /* Stores the first n lanes. */
    void store_first(float* p, int n) const {
        _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), v);
    }
    friend VecF operator+(VecF a, VecF b) { return {_mm512_add_ps(a.v, b.v)}; }
    friend VecF operator-(VecF a, VecF b) { return {_mm512_sub_ps(a.v, b.v)}; }
    friend VecF operator*(VecF a, VecF b) { return {_mm512_mul_ps(a.v, b.v)}; }
    /* a * b + c */
    friend VecF fma(VecF a, VecF b, VecF c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
    friend VecF vmax(VecF a, VecF b) { return {_mm512_max_ps(a.v, b.v)}; }
    friend VecF vmin(VecF a, VecF b) { return {_mm512_min_ps(a.v, b.v)}; }
    friend VecF vabs(VecF a) { return {_mm512_abs_ps(a.v)}; }
    friend VecF round_nearest(VecF a) {
        return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
    }
    /* a * 2^n for integral n. */
    friend VecF scale_by_pow2(VecF a, VecF n) { return {_mm512_scalef_ps(a.v, n.v)}; }
    /* 1 / a, accurate to about one ulp: 14-bit estimate and one Newton step. */
    friend VecF reciprocal(VecF a) {
        __m512 r = _mm512_rcp14_ps(a.v);
        return {_mm512_mul_ps(r, _mm512_fnmadd_ps(a.v, r, _mm512_set1_ps(2.0f)))};
    }
};

#elif defined(FS_ISA_AVX2)

struct VecF {
    static constexpr int kWidth = 8;
    __m256 v;

    static VecF load(const float* p) { return {_mm256_loadu_ps(p)}; }
    static VecF broadcast(float x) { return {_mm256_set1_ps(x)}; }
    static VecF zero() { return {_mm256_setzero_ps()}; }
    static VecF iota() { return {_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7)}; }
    void store(float* p) const { _mm256_storeu_ps(p, v); }
    void store_first(float* p, int n) const {
        alignas(32) float tmp[8];
        _mm256_store_ps(tmp, v);
        for (int i = 0; i < n; ++i) p[i] = tmp[i];
    }
    friend VecF operator+(VecF a, VecF b) { return {_mm256_add_ps(a.v, b.v)}; }
    friend VecF operator-(VecF a, VecF b) { return {_mm256_sub_ps(a.v, b.v)}; }
    friend VecF operator*(VecF a, VecF b) { return {_mm256_mul_ps(a.v, b.v)}; }
    friend VecF fma(VecF a, VecF b, VecF c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
    friend VecF vmax(VecF a, VecF b) { return {_mm256_max_ps(a.v, b.v)}; }
    friend VecF vmin(VecF a, VecF b) { return {_mm256_min_ps(a.v, b.v)}; }
    friend VecF vabs(VecF a) {
        return {_mm256_and_ps(a.v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)))};
    }
    friend VecF round_nearest(VecF a) {
        return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
    }
    /* a * 2^n for integral n in [-126, 127]. */
    friend VecF scale_by_pow2(VecF a, VecF n) {
        __m256i e = _mm256_slli_epi32(
            _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127)), 23);
        return {_mm256_mul_ps(a.v, _mm256_castsi256_ps(e))};
    }
    /* 1 / a from a 12-bit estimate and two Newton steps in the form r + r (1 - a r), whose
     * residual the FMA computes exactly: 1 / 1 comes out as exactly 1. The form r (2 - a r) gave
     * 0.99999994 there, so a saturated sigmoid weight was 1 - 2^-24 instead of 1 and its
     * gradient P (1 - P) was 6e-8 instead of 0 (a visible dq with float16 inputs near 65504). */
    friend VecF reciprocal(VecF a) {
        const __m256 one = _mm256_set1_ps(1.0f);
        __m256 r = _mm256_rcp_ps(a.v);
        r = _mm256_fmadd_ps(r, _mm256_fnmadd_ps(a.v, r, one), r);
        return {_mm256_fmadd_ps(r, _mm256_fnmadd_ps(a.v, r, one), r)};
    }
};

#else

// Portable: plain arrays that the compiler vectorises for the baseline instruction set.
struct VecF {
    static constexpr int kWidth = 8;
    float v[8];

    static VecF load(const float* p) {
        VecF r;
        std::memcpy(r.v, p, sizeof(r.v));
        return r;
    }
    static VecF broadcast(float x) {
        VecF r;
        for (float& e : r.v) e = x;
        return r;
    }
    static VecF zero() { return broadcast(0.0f); }
    static VecF iota() {
        VecF r;
        for (int i = 0; i < kWidth; ++i) r.v[i] = static_cast<float>(i);
        return r;
    }
    void store(float* p) const { std::memcpy(p, v, sizeof(v)); }
    void store_first(float* p, int n) const { std::memcpy(p, v, sizeof(float) * n); }
#define FS_LANEWISE(expr)                             \
    VecF r;                                           \
    for (int i = 0; i < kWidth; ++i) r.v[i] = (expr); \
    return r;
    friend VecF operator+(VecF a, VecF b) {
        FS_LANEWISE(a.v[i] + b.v[i])
    }
    friend VecF operator-(VecF a, VecF b) {
        FS_LANEWISE(a.v[i] - b.v[i])
    }
    friend VecF operator*(VecF a, VecF b) {
        FS_LANEWISE(a.v[i] * b.v[i])
    }
    friend VecF fma(VecF a, VecF b, VecF c) {
        FS_LANEWISE(a.v[i] * b.v[i] + c.v[i])
    }
    friend VecF vmax(VecF a, VecF b) {
        FS_LANEWISE(a.v[i] > b.v[i] ? a.v[i] : b.v[i])
    }
    friend VecF vmin(VecF a, VecF b) {
        FS_LANEWISE(a.v[i] < b.v[i] ? a.v[i] : b.v[i])
    }
    friend VecF vabs(VecF a) {
        FS_LANEWISE(std::fabs(a.v[i]))
    }
    friend VecF round_nearest(VecF a) {
        FS_LANEWISE(std::nearbyint(a.v[i]))
    }
    // A NaN exponent (from a NaN score) must not reach the int conversion, which it would make
    // undefined behaviour.
    friend VecF scale_by_pow2(VecF a, VecF n) {
        FS_LANEWISE(n.v[i] == n.v[i] ? std::ldexp(a.v[i], static_cast<int>(n.v[i])) : n.v[i])
    }
    friend VecF reciprocal(VecF a) {
        FS_LANEWISE(1.0f / a.v[i])
    }
#undef FS_LANEWISE
};

#endif

// exp(y) for y in [-87, 87] (callers clamp): y = n ln2 + r with |r| <= ln2 / 2, exp(r) by a
// degree-5 minimax polynomial (relative error 1.4e-7, fitted for this file), times 2^n.
inline VecF exp_clamped(VecF y) {
    VecF n = round_nearest(y * VecF::broadcast(1.44269504088896341f));
    // Two-part ln 2 keeps r exact to float precision.
    VecF r = fma(n, VecF::broadcast(-0.693145751953125f), y);
    r = fma(n, VecF::broadcast(-1.42860682030941723212e-6f), r);
    VecF p = VecF::broadcast(0.008297654800117016f);
    p = fma(p, r, VecF::broadcast(0.04191538318991661f));
    p = fma(p, r, VecF::broadcast(0.16667574644088745f));
    p = fma(p, r, VecF::broadcast(0.49998894333839417f));
    p = fma(p, r, VecF::broadcast(0.9999997019767761f));
    p = fma(p, r, VecF::broadcast(1.0000001192092896f));
    return scale_by_pow2(p, n);
}

// sigmoid(x) = 1 / (1 + e^-x), with -x clamped to [-87, 87] so that e^-x stays finite and
// normal: the result is exact to about one ulp for |x| <= 87 and within 1.7e-38 of 0 or 1 beyond
// (x = +Inf gives 1, x = -Inf about 1.6e-38). A NaN stays NaN: vmax and vmin return their second
// operand when either is NaN (as the x86 instructions do), so the bound goes first; the other
// order turned a NaN score into the weight 1.
inline VecF sigmoid(VecF x) {
    VecF y = vmin(VecF::broadcast(87.0f), vmax(VecF::broadcast(-87.0f), VecF::zero() - x));
    return reciprocal(VecF::broadcast(1.0f) + exp_clamped(y));
}
