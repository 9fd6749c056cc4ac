// The fused backward. It recomputes S tile by tile; sigmoid needs neither the log-sum-exp nor the
// rowsum(dO * O) pre-pass of softmax attention, because dS = dP * P * (1 - P) is local.
//
// One work item per (batch, head, chunk of keys). The item packs its keys and values once, walks
// the blocks of queries that see them, and keeps float32 dK and dV for the chunk and dQ for the
// current block; it adds them into shared float32 accumulators under a lock per (batch, kv head)
// and per (batch, head), so GQA heads of a group and the chunks of a head never race.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "thread_pool.h"
#include "tiles.h"

template <int kScoreRows, int kScoreVecs, int kOutRows, int kOutVecs>
void backward(const fs_attention* a, fs_operand dout, fs_operand dq, fs_operand dk, fs_operand dv,
              float* d_head_bias) {
    constexpr int W = VecF::kWidth;
    const int64_t B = a->batch, Tq = a->q_len, Tk = a->k_len, H = a->heads, G = a->kv_heads;
    const int64_t d = a->head_dim;
    const int64_t dp = round_up(d, W);
    const int64_t brp = round_up(kQueryBlock, W);
    const int64_t group = H / G;
    const fs_dtype dtype = a->dtype;

    std::vector<float> dq_acc(static_cast<size_t>(B * Tq * H * d), 0.0f);
    std::vector<float> dk_acc(static_cast<size_t>(B * Tk * G * d), 0.0f);
    std::vector<float> dv_acc(static_cast<size_t>(B * Tk * G * d), 0.0f);
    std::vector<double> bias_acc(static_cast<size_t>(H), 0.0);
    std::unique_ptr<std::mutex[]> kv_locks(new std::mutex[B * G]);
    std::unique_ptr<std::mutex[]> q_locks(new std::mutex[B * H]);
    std::mutex bias_lock;

    // Enough items to keep every thread busy, in chunks of whole key tiles.
    flash_sigmoid::ThreadPool& pool = flash_sigmoid::ThreadPool::instance();
    const int64_t tiles = (Tk + kKeyTile - 1) / kKeyTile;
    const int64_t wanted = (4 * pool.threads() + B * H - 1) / (B * H);
    const int64_t chunks = std::max<int64_t>(1, std::min(tiles, wanted));
    const int64_t chunk_len = (tiles + chunks - 1) / chunks * kKeyTile;
    const int64_t diag = Tk - Tq;

    pool.parallel_for(B * H * chunks, [&](int64_t item, int) {
        const int64_t c = item % chunks;
        const int64_t h = (item / chunks) % H;
        const int64_t b = item / (chunks * H);
        const int64_t g = h / group;
        const int64_t c0 = c * chunk_len;
        // Varlen: keys past the sequence's length keep their zero gradients.
        const int64_t c1 = std::min(key_length(a, b), c0 + chunk_len);
        if (c0 >= c1) return;
        const int64_t kc = c1 - c0;
        // The first query that sees key c0.
        const int64_t q_first = a->causal ? std::min(std::max<int64_t>(c0 - diag, 0), Tq) : 0;
        if (q_first >= Tq) return;
        const HeadContext ctx = head_context(a, b, h);

        Scratch& s = thread_scratch();
        // The chunk's keys and values, packed once; its dK and dV accumulate here.
        float* kp = s.get(0, kc * dp);
        float* vp = s.get(1, kc * dp);
        float* dk_loc = s.get(2, kc * dp);
        float* dv_loc = s.get(3, kc * dp);
        // One block of queries at a time, packed once per block.
        float* qt = s.get(4, d * brp);
        float* qrow = s.get(5, kQueryBlock * dp);
        float* dot = s.get(6, d * brp);
        float* dorow = s.get(7, kQueryBlock * dp);
        float* pt = s.get(8, kKeyTile * brp);
        float* dpt = s.get(9, kKeyTile * brp);
        float* dq_t = s.get(10, kQueryBlock * dp);
        float* staging = s.get(11, kQueryBlock * d);

        pack_rows(dtype, a->k, b, c0, g, kc, d, kp, dp);
        pack_rows(dtype, a->v, b, c0, g, kc, d, vp, dp);
        for (int64_t r = 0; r < kc; ++r) {
            // A padded key must not leak a non-finite value through 0 * v.
            if (key_padded(ctx, c0 + r)) std::fill(vp + r * dp, vp + (r + 1) * dp, 0.0f);
        }
        std::fill(dk_loc, dk_loc + kc * dp, 0.0f);
        std::fill(dv_loc, dv_loc + kc * dp, 0.0f);
        double bias_grad = 0.0;
        const VecF one = VecF::broadcast(1.0f);

        for (int64_t i0 = q_first / kQueryBlock * kQueryBlock; i0 < Tq; i0 += kQueryBlock) {
            const int64_t rows = std::min(kQueryBlock, Tq - i0);
            const int64_t j_end = std::min(c1, visible_key_end(a, b, i0, rows));
            if (j_end <= c0) continue;
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
                gemm<kScoreRows, kScoreVecs>(keys, brp, d, vt, dp, 1, dot, brp, dpt, brp, false);
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
                // dV += P^T dO; dK += dS^T Q (scaled at the flush); dQ += dS K.
                float* dv_rows = dv_loc + (j0 - c0) * dp;
                float* dk_rows = dk_loc + (j0 - c0) * dp;
                gemm<kOutRows, kOutVecs>(keys, dp, rows, pt, brp, 1, dorow, dp, dv_rows, dp, true);
                gemm<kOutRows, kOutVecs>(keys, dp, rows, dpt, brp, 1, qrow, dp, dk_rows, dp, true);
                gemm<kOutRows, kOutVecs>(rows, dp, keys, dpt, 1, brp, kt, dp, dq_t, dp, true);
            }
            std::lock_guard<std::mutex> lock(q_locks[b * H + h]);
            for (int64_t r = 0; r < rows; ++r) {
                float* dst = dq_acc.data() + ((b * Tq + i0 + r) * H + h) * d;
                const float* src = dq_t + r * dp;
                for (int64_t e = 0; e < d; ++e) dst[e] += a->scale * src[e];
            }
        }
        {
            std::lock_guard<std::mutex> lock(kv_locks[b * G + g]);
            for (int64_t r = 0; r < kc; ++r) {
                float* dk_dst = dk_acc.data() + ((b * Tk + c0 + r) * G + g) * d;
                float* dv_dst = dv_acc.data() + ((b * Tk + c0 + r) * G + g) * d;
                for (int64_t e = 0; e < d; ++e) {
                    dk_dst[e] += a->scale * dk_loc[r * dp + e];
                    dv_dst[e] += dv_loc[r * dp + e];
                }
            }
        }
        if (d_head_bias) {
            std::lock_guard<std::mutex> lock(bias_lock);
            bias_acc[h] += bias_grad;
        }
    });

    pool.parallel_for(B * Tq, [&](int64_t item, int) {
        const int64_t b = item / Tq, i = item % Tq;
        for (int64_t h = 0; h < H; ++h) {
            store_row(dtype, dq.data, offset4(dq, b, i, h), dq.stride[3], d,
                      dq_acc.data() + ((b * Tq + i) * H + h) * d);
        }
    });
    pool.parallel_for(B * Tk, [&](int64_t item, int) {
        const int64_t b = item / Tk, j = item % Tk;
        for (int64_t g = 0; g < G; ++g) {
            const int64_t at = ((b * Tk + j) * G + g) * d;
            store_row(dtype, dk.data, offset4(dk, b, j, g), dk.stride[3], d, dk_acc.data() + at);
            store_row(dtype, dv.data, offset4(dv, b, j, g), dv.stride[3], d, dv_acc.data() + at);
        }
    });
    if (d_head_bias) {
        for (int64_t h = 0; h < H; ++h) d_head_bias[h] = static_cast<float>(bias_acc[h]);
    }
}
