// Tile sizes, per-thread scratch and the score-to-weight step shared by the forward and backward
// kernels. Requires simd.h and gemm.h in the same namespace.
//
// Score tiles are stored transposed, S^T[j][i] (keys by queries): a key row of S^T is a run of
// queries, which is what the vectorised sigmoid, the causal boundary and ALiBi walk along.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../flash_sigmoid.h"
#include "convert.h"

// Queries per block (the columns of S^T) and keys per tile (its rows).
constexpr int64_t kQueryBlock = 64;
constexpr int64_t kKeyTile = 128;
// Query blocks that share each key and value tile in the forward.
constexpr int64_t kQueryBlocksPerItem = 4;

inline int64_t round_up(int64_t x, int64_t m) {
    return (x + m - 1) / m * m;
}

// Key tiles whose products accumulate in float32 before they are added to a float64 sum: long
// float32 running sums lose the small terms (sigmoid weights near 1/n), so every sum over keys or
// queries is blocked, float32 within a block and float64 across blocks, and stays accurate at any
// length.
constexpr int64_t kTilesPerFlush = 4;

// Growable float32 and float64 buffers, one set per thread, reused across calls. The kernels size
// them by tiles and chunks, never by a whole sequence, so what a thread keeps is bounded.
struct Scratch {
    std::vector<float> buffers[12];
    std::vector<double> wide[3];
    float* get(int slot, int64_t n) {
        std::vector<float>& b = buffers[slot];
        if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
        return b.data();
    }
    double* get_wide(int slot, int64_t n) {
        std::vector<double>& b = wide[slot];
        if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
        return b.data();
    }
};

// dst[e] += factor * src[e] and src[e] = 0, for e < n: moves a float32 block sum into a float64
// sum.
inline void flush_into(double* dst, float* src, int64_t n, float factor = 1.0f) {
    for (int64_t e = 0; e < n; ++e) {
        dst[e] += static_cast<double>(factor) * src[e];
        src[e] = 0.0f;
    }
}

// Writes a float64 row in the storage type, through `row` (n floats of scratch).
inline void store_wide_row(fs_dtype dtype, void* base, int64_t offset, int64_t stride, int64_t n,
                           const double* in, float* row) {
    for (int64_t e = 0; e < n; ++e) row[e] = static_cast<float>(in[e]);
    store_row(dtype, base, offset, stride, n, row);
}

inline Scratch& thread_scratch() {
    thread_local Scratch scratch;
    return scratch;
}

// Offset of element (b, t, head, 0) of a (B, T, heads, D) operand.
inline int64_t offset4(const fs_operand& x, int64_t b, int64_t t, int64_t head) {
    return b * x.stride[0] + t * x.stride[1] + head * x.stride[2];
}

// rows x d block of a (B, T, heads, D) operand starting at row t0, as float32 into dst with row
// stride ld; columns d..ld are zeroed.
inline void pack_rows(fs_dtype dtype, const fs_operand& x, int64_t b, int64_t t0, int64_t head,
                      int64_t rows, int64_t d, float* dst, int64_t ld) {
    for (int64_t r = 0; r < rows; ++r) {
        load_row(dtype, x.data, offset4(x, b, t0 + r, head), x.stride[3], d, dst + r * ld);
        std::fill(dst + r * ld + d, dst + (r + 1) * ld, 0.0f);
    }
}

// The transpose: dst[c][r] = factor * x[t0 + r][c] for r < rows, zero for rows <= r < ld.
// Rows are first gathered as float32 into `staging` (rows x d) unless they can be read in place;
// the transpose then writes dst contiguously, which is much cheaper than scattered stores.
inline void pack_transposed(fs_dtype dtype, const fs_operand& x, int64_t b, int64_t t0,
                            int64_t head, int64_t rows, int64_t d, float factor, float* dst,
                            int64_t ld, float* staging, bool zero_rest = true) {
    const float* src;
    int64_t src_rs;
    if (dtype == FS_FLOAT32 && x.stride[3] == 1) {
        src = static_cast<const float*>(x.data) + offset4(x, b, t0, head);
        src_rs = x.stride[1];
    } else {
        for (int64_t r = 0; r < rows; ++r) {
            load_row(dtype, x.data, offset4(x, b, t0 + r, head), x.stride[3], d, staging + r * d);
        }
        src = staging;
        src_rs = d;
    }
    for (int64_t c = 0; c < d; ++c) {
        float* out = dst + c * ld;
        for (int64_t r = 0; r < rows; ++r) out[r] = factor * src[r * src_rs + c];
        if (zero_rest) std::fill(out + rows, out + ld, 0.0f);
    }
}

// What the weights of one (batch, head) need to know.
struct HeadContext {
    const fs_attention* attn;
    int64_t b;
    int64_t h;
    float bias;    // scalar bias plus the head's bias
    float slope;   // ALiBi slope, 0 without ALiBi
    int64_t diag;  // Tk - Tq: key j is visible to query i when j <= i + diag
};

inline HeadContext head_context(const fs_attention* attn, int64_t b, int64_t h) {
    HeadContext c;
    c.attn = attn;
    c.b = b;
    c.h = h;
    c.bias = attn->bias + (attn->head_bias ? attn->head_bias[h] : 0.0f);
    c.slope = attn->alibi_slopes ? attn->alibi_slopes[h] : 0.0f;
    c.diag = attn->k_len - attn->q_len;
    return c;
}

// Whether key j is masked for every query by a key-padding mask (one that does not vary with i).
inline bool key_padded(const HeadContext& c, int64_t j) {
    const fs_attention* a = c.attn;
    if (!a->keep || a->keep_stride[2] != 0) return false;
    return a->keep[c.b * a->keep_stride[0] + c.h * a->keep_stride[1] + j * a->keep_stride[3]] == 0;
}

// Turns scores S^T (keys j0.. by queries i0..i0+cols, row stride ld) into weights P^T in place:
// P = keep * sigmoid(S + bias - slope |i + diag - j|). Masked entries become exactly 0.
inline void scores_to_weights(const HeadContext& c, int64_t j0, int64_t key_rows, int64_t i0,
                              int64_t cols, float* st, int64_t ld) {
    constexpr int W = VecF::kWidth;
    const fs_attention* a = c.attn;
    const VecF bias = VecF::broadcast(c.bias);
    const VecF slope = VecF::broadcast(c.slope);
    const VecF lane = VecF::iota();
    const int64_t padded = round_up(cols, W);
    for (int64_t r = 0; r < key_rows; ++r) {
        const int64_t j = j0 + r;
        float* row = st + r * ld;
        // Queries i < j - diag cannot see key j when causal: the first `hidden` columns.
        int64_t hidden = 0;
        if (a->causal) hidden = std::min(std::max<int64_t>(j - c.diag - i0, 0), cols);
        if (hidden == cols || key_padded(c, j)) {
            std::fill(row, row + padded, 0.0f);
            continue;
        }
        // Distance i + diag - j = (i - i0) + (i0 + diag - j).
        const float base = static_cast<float>(i0 + c.diag - j);
        for (int64_t i = 0; i < padded; i += W) {
            VecF s = VecF::load(row + i) + bias;
            if (c.slope != 0.0f) {
                VecF distance = vabs(lane + VecF::broadcast(base + static_cast<float>(i)));
                s = s - slope * distance;
            }
            sigmoid(s).store(row + i);
        }
        std::fill(row, row + hidden, 0.0f);
        if (a->keep && a->keep_stride[2] != 0) {
            const uint8_t* keep =
                a->keep + c.b * a->keep_stride[0] + c.h * a->keep_stride[1] + j * a->keep_stride[3];
            for (int64_t i = hidden; i < cols; ++i) {
                if (keep[(i0 + i) * a->keep_stride[2]] == 0) row[i] = 0.0f;
            }
        }
    }
}

// The per-column constants of a score tile whose columns are (head, query) pairs: GQA decoding
// puts the queries of every head of a kv head's group side by side, column c = hh * q_len + i for
// query i of head first_head + hh. Columns past `cols` get values that keep them finite.
struct ColumnContexts {
    float* bias;   // scalar bias plus the column's head bias
    float* slope;  // ALiBi slope of the column's head
    float* query;  // i + diag as a float: key j's ALiBi distance is |query - j|, causal hides j >
                   // query
};
inline void column_contexts(const fs_attention* a, int64_t first_head, int64_t q_len, int64_t cols,
                            int64_t padded, ColumnContexts c) {
    for (int64_t col = 0; col < padded; ++col) {
        const bool real = col < cols;
        const int64_t h = first_head + (real ? col / q_len : 0);
        c.bias[col] = real ? a->bias + (a->head_bias ? a->head_bias[h] : 0.0f) : 0.0f;
        c.slope[col] = real && a->alibi_slopes ? a->alibi_slopes[h] : 0.0f;
        c.query[col] = static_cast<float>(real ? col % q_len + a->k_len - a->q_len : 0);
    }
}

// scores_to_weights for such a tile (keys j0.. by `cols` columns, row stride ld): the same weights,
// each column with its own head's bias and slope. A keep mask here is the same for every head.
inline void grouped_scores_to_weights(const fs_attention* a, int64_t b, int64_t q_len, int64_t j0,
                                      int64_t key_rows, int64_t cols, const ColumnContexts& c,
                                      float* st, int64_t ld) {
    constexpr int W = VecF::kWidth;
    const int64_t padded = round_up(cols, W);
    const bool alibi = a->alibi_slopes != nullptr;
    for (int64_t r = 0; r < key_rows; ++r) {
        const int64_t j = j0 + r;
        float* row = st + r * ld;
        const bool padding_key = a->keep && a->keep_stride[2] == 0 &&
                                 a->keep[b * a->keep_stride[0] + j * a->keep_stride[3]] == 0;
        if (padding_key) {
            std::fill(row, row + padded, 0.0f);
            continue;
        }
        const VecF key = VecF::broadcast(static_cast<float>(j));
        for (int64_t i = 0; i < padded; i += W) {
            VecF s = VecF::load(row + i) + VecF::load(c.bias + i);
            if (alibi) s = s - VecF::load(c.slope + i) * vabs(VecF::load(c.query + i) - key);
            sigmoid(s).store(row + i);
        }
        if (a->causal || (a->keep && a->keep_stride[2] != 0)) {
            for (int64_t col = 0; col < cols; ++col) {
                const int64_t i = col % q_len;
                bool visible = !a->causal || j <= i + a->k_len - a->q_len;
                if (visible && a->keep && a->keep_stride[2] != 0) {
                    visible = a->keep[b * a->keep_stride[0] + i * a->keep_stride[2] +
                                      j * a->keep_stride[3]] != 0;
                }
                if (!visible) row[col] = 0.0f;
            }
        }
    }
}

// The keys of sequence b: its key length in a variable-length batch, else all Tk.
inline int64_t key_length(const fs_attention* a, int64_t b) {
    return a->key_lengths ? a->key_lengths[b] : a->k_len;
}

// The range of keys [0, end) that any query of [i0, i0 + rows) of sequence b may see.
inline int64_t visible_key_end(const fs_attention* a, int64_t b, int64_t i0, int64_t rows) {
    const int64_t end = key_length(a, b);
    if (!a->causal) return end;
    return std::min(end, std::max<int64_t>(i0 + rows + a->k_len - a->q_len, 0));
}
