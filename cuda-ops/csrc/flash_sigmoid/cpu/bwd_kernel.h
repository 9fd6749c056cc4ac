// The fused backward. It recomputes S tile by tile; sigmoid needs neither the log-sum-exp nor the
// rowsum(dO * O) pre-pass of softmax attention, because dS = dP * P * (1 - P) is local.
//
// One work item per (batch, kv head, chunk of at most a few thousand keys). The item packs its
// keys and values once, walks every query head of the group and the blocks of queries that see
// the chunk, and owns the chunk's dK and dV: it writes them to the outputs itself, so no
// gradient-sized accumulator exists for them, and its scratch is bounded by the chunk, not by Tk.
// dQ gets contributions from every chunk and is summed in one float64 buffer under a lock per
// (batch, head). Sums run in float32 over a few tiles and in float64 across them (see tiles.h).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "thread_pool.h"
#include "tiles.h"

// Keys of a chunk: at most kMaxChunkKeys, fewer for wide heads, so that one packed operand of a
// chunk stays within kChunkFloats floats.
constexpr int64_t kMaxChunkKeys = 8 * kKeyTile;
constexpr int64_t kChunkFloats = int64_t{1} << 16;

template <int kScoreRows, int kScoreVecs, int kOutRows, int kOutVecs>
void backward(const fs_attention* a, fs_operand dout, fs_operand dq, fs_operand dk, fs_operand dv,
              float* d_head_bias) {
    constexpr int W = VecF::kWidth;
    const int64_t B = a->batch, Tq = a->q_len, Tk = a->k_len, H = a->heads, G = a->kv_heads;
    const int64_t d = a->head_dim;
    const int64_t dp = round_up(d, W);
    // Columns of a score tile: a query block, or fewer queries rounded up to the vector width.
    const int64_t brp = round_up(std::min(kQueryBlock, Tq), W);
    const int64_t group = H / G;
    const fs_dtype dtype = a->dtype;
    // A key-padding mask that differs between the heads of a group zeroes different value rows.
    const bool per_head_padding = a->keep && a->keep_stride[2] == 0 && a->keep_stride[1] != 0;

    std::vector<double> dq_acc(static_cast<size_t>(B * Tq * H * d), 0.0);
    std::vector<double> bias_acc(static_cast<size_t>(H), 0.0);
    std::unique_ptr<std::mutex[]> q_locks(new std::mutex[B * H]);
    std::mutex bias_lock;

    // Chunks of whole key tiles: bounded in size, and enough of them to keep every thread busy.
    flash_sigmoid::ThreadPool& pool = flash_sigmoid::ThreadPool::instance();
    const int64_t tiles = (Tk + kKeyTile - 1) / kKeyTile;
    const int64_t max_chunk_tiles =
        std::max<int64_t>(1, std::min(kMaxChunkKeys, kChunkFloats / dp) / kKeyTile);
    const int64_t wanted = (4 * pool.threads() + B * G - 1) / (B * G);
    const int64_t chunks =
        std::max((tiles + max_chunk_tiles - 1) / max_chunk_tiles, std::min(tiles, wanted));
    const int64_t chunk_len = (tiles + chunks - 1) / chunks * kKeyTile;
    const int64_t diag = Tk - Tq;

    pool.parallel_for(B * G * chunks, [&](int64_t item, int) {
        const int64_t c = item % chunks;
        const int64_t g = (item / chunks) % G;
        const int64_t b = item / (chunks * G);
        const int64_t c0 = c * chunk_len;
        const int64_t chunk_end = std::min(Tk, c0 + chunk_len);
        if (c0 >= chunk_end) return;
        // Varlen: keys past the sequence's length get zero gradients.
        const int64_t c1 = std::min(key_length(a, b), chunk_end);
        // The first query that sees key c0.
        const int64_t q_first = a->causal ? std::min(std::max<int64_t>(c0 - diag, 0), Tq) : 0;
        const int64_t kc = std::max<int64_t>(c1 - c0, 0);
        const int64_t rows_stored = chunk_end - c0;

        Scratch& s = thread_scratch();
        // The chunk's keys and values, packed once; its dK and dV accumulate here in float32 and
        // move to the float64 sums every few query blocks.
        float* kp = s.get(0, rows_stored * dp);
        float* vp = s.get(1, rows_stored * dp);
        float* dk_loc = s.get(2, rows_stored * dp);
        float* dv_loc = s.get(3, rows_stored * dp);
        // Float64 sums, used once the queries are more than one flush's worth.
        double* dk_sum = nullptr;
        double* dv_sum = nullptr;
        // One block of queries at a time, packed once per block.
        float* qt = s.get(4, d * brp);
        float* qrow = s.get(5, kQueryBlock * dp);
        float* dot = s.get(6, d * brp);
        float* dorow = s.get(7, kQueryBlock * dp);
        float* pt = s.get(8, kKeyTile * brp);
        float* dpt = s.get(9, kKeyTile * brp);
        float* dq_t = s.get(10, kQueryBlock * dp);
        float* staging = s.get(11, kQueryBlock * std::max(d, dp));
        std::fill(dk_loc, dk_loc + rows_stored * dp, 0.0f);
        std::fill(dv_loc, dv_loc + rows_stored * dp, 0.0f);
        auto flush = [&] {
            if (!dk_sum) {
                dk_sum = s.get_wide(0, rows_stored * dp);
                dv_sum = s.get_wide(1, rows_stored * dp);
                std::fill(dk_sum, dk_sum + rows_stored * dp, 0.0);
                std::fill(dv_sum, dv_sum + rows_stored * dp, 0.0);
            }
            flush_into(dk_sum, dk_loc, kc * dp, a->scale);
            flush_into(dv_sum, dv_loc, kc * dp);
        };

        // Packs the chunk's keys and values with the rows of padded keys zeroed: a masked key
        // must not leak a non-finite value through 0 * k (into dQ) or 0 * v.
        auto pack_chunk = [&](const HeadContext& ctx) {
            pack_rows(dtype, a->k, b, c0, g, kc, d, kp, dp);
            pack_rows(dtype, a->v, b, c0, g, kc, d, vp, dp);
            for (int64_t r = 0; r < kc; ++r) {
                if (!key_padded(ctx, c0 + r)) continue;
                std::fill(kp + r * dp, kp + (r + 1) * dp, 0.0f);
                std::fill(vp + r * dp, vp + (r + 1) * dp, 0.0f);
            }
        };
        const VecF one = VecF::broadcast(1.0f);
        int64_t pending_blocks = 0;

        for (int64_t hh = 0; hh < group && kc > 0 && q_first < Tq; ++hh) {
            const int64_t h = g * group + hh;
            const HeadContext ctx = head_context(a, b, h);
            if (hh == 0 || per_head_padding) pack_chunk(ctx);
            double bias_grad = 0.0;

            for (int64_t i0 = q_first / kQueryBlock * kQueryBlock; i0 < Tq; i0 += kQueryBlock) {
                const int64_t rows = std::min(kQueryBlock, Tq - i0);
                const int64_t j_end = std::min(c1, visible_key_end(a, b, i0, rows));
                if (j_end <= c0) continue;
                if (pending_blocks++ == kTilesPerFlush) {
                    flush();
                    pending_blocks = 1;
                }
                pack_transposed(dtype, a->q, b, i0, h, rows, d, a->scale, qt, brp, staging);
                pack_rows(dtype, a->q, b, i0, h, rows, d, qrow, dp);
                pack_transposed(dtype, dout, b, i0, h, rows, d, 1.0f, dot, brp, staging);
                pack_rows(dtype, dout, b, i0, h, rows, d, dorow, dp);
                std::fill(dq_t, dq_t + rows * dp, 0.0f);

                for (int64_t j0 = c0; j0 < j_end; j0 += kKeyTile) {
                    const int64_t keys = std::min(kKeyTile, j_end - j0);
                    const float* kt = kp + (j0 - c0) * dp;
                    const float* vt = vp + (j0 - c0) * dp;
                    // P^T = weights(K Q^T); dP^T = V dO^T.
                    gemm<kScoreRows, kScoreVecs>(keys, brp, d, kt, dp, 1, qt, brp, pt, brp, false);
                    scores_to_weights(ctx, j0, keys, i0, rows, pt, brp);
                    gemm<kScoreRows, kScoreVecs>(keys, brp, d, vt, dp, 1, dot, brp, dpt, brp,
                                                 false);
                    // dS = dP * P * (1 - P), in place of dP^T; zero wherever P is masked to zero.
                    for (int64_t r = 0; r < keys; ++r) {
                        float* prow = pt + r * brp;
                        float* drow = dpt + r * brp;
                        for (int64_t i = 0; i < brp; i += W) {
                            VecF p = VecF::load(prow + i);
                            (VecF::load(drow + i) * p * (one - p)).store(drow + i);
                        }
                        if (d_head_bias) {
                            for (int64_t i = 0; i < rows; ++i) bias_grad += drow[i];
                        }
                    }
                    // dV += P^T dO; dK += dS^T Q (scaled when flushed); dQ += dS K.
                    float* dv_rows = dv_loc + (j0 - c0) * dp;
                    float* dk_rows = dk_loc + (j0 - c0) * dp;
                    gemm<kOutRows, kOutVecs>(keys, dp, rows, pt, brp, 1, dorow, dp, dv_rows, dp,
                                             true);
                    gemm<kOutRows, kOutVecs>(keys, dp, rows, dpt, brp, 1, qrow, dp, dk_rows, dp,
                                             true);
                    gemm<kOutRows, kOutVecs>(rows, dp, keys, dpt, 1, brp, kt, dp, dq_t, dp, true);
                }
                std::lock_guard<std::mutex> lock(q_locks[b * H + h]);
                for (int64_t r = 0; r < rows; ++r) {
                    double* dst = dq_acc.data() + ((b * Tq + i0 + r) * H + h) * d;
                    const float* src = dq_t + r * dp;
                    for (int64_t e = 0; e < d; ++e)
                        dst[e] += static_cast<double>(a->scale) * src[e];
                }
            }
            if (d_head_bias) {
                std::lock_guard<std::mutex> lock(bias_lock);
                bias_acc[h] += bias_grad;
            }
        }
        // The chunk's rows of dK and dV; rows past the sequence's length are zero (dk_loc and
        // dv_loc were cleared for the whole chunk and only rows below kc accumulate).
        if (dk_sum) {
            flush();
            for (int64_t r = 0; r < rows_stored; ++r) {
                store_wide_row(dtype, dk.data, offset4(dk, b, c0 + r, g), dk.stride[3], d,
                               dk_sum + r * dp, staging);
                store_wide_row(dtype, dv.data, offset4(dv, b, c0 + r, g), dv.stride[3], d,
                               dv_sum + r * dp, staging);
            }
        } else {
            for (int64_t r = 0; r < rows_stored; ++r) {
                float* dk_row = dk_loc + r * dp;
                for (int64_t e = 0; e < d; ++e) dk_row[e] *= a->scale;
                store_row(dtype, dk.data, offset4(dk, b, c0 + r, g), dk.stride[3], d, dk_row);
                store_row(dtype, dv.data, offset4(dv, b, c0 + r, g), dv.stride[3], d,
                          dv_loc + r * dp);
            }
        }
    });

    pool.parallel_for(B * Tq, [&](int64_t item, int) {
        const int64_t b = item / Tq, i = item % Tq;
        float* row = thread_scratch().get(11, std::max(d, dp));
        for (int64_t h = 0; h < H; ++h) {
            store_wide_row(dtype, dq.data, offset4(dq, b, i, h), dq.stride[3], d,
                           dq_acc.data() + ((b * Tq + i) * H + h) * d, row);
        }
    });
    if (d_head_bias) {
        for (int64_t h = 0; h < H; ++h) d_head_bias[h] = static_cast<float>(bias_acc[h]);
    }
}
