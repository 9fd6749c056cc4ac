// The fused forward: one work item per (batch, head, group of query blocks of 64). The item packs
// its queries transposed, walks the visible key tiles, and accumulates O += sigmoid(S) V per block
// without ever holding more than one (128 x 64) score tile. No row maximum and no rescaling:
// sigmoid weights are final the moment they are computed.
//
// Split-KV (flash-decoding): with few queries (decoding, speculative decoding) and long keys
// there are too few work items to fill the threads, so each item's key range is split into
// chunks whose partial outputs are summed afterwards. For sigmoid attention the partial outputs
// of disjoint key ranges add up as they are: no log-sum-exp to merge.
//
// O is summed in float32 over kTilesPerFlush key tiles at a time and in float64 across them.
#pragma once

#include <algorithm>
#include <cstdint>

#include <vector>

#include "thread_pool.h"
#include "tiles.h"

// Queries up to which the forward splits the key range across threads.
constexpr int64_t kSplitKvMaxQueries = 16;
// Keys of the smallest split: below this the partial outputs cost more than the split gains.
constexpr int64_t kSplitKvMinKeys = 2 * kKeyTile;

// How many key ranges each of `items` work items is split into: 1 unless the queries are few
// and the items too few to give every thread two of them.
inline int64_t key_splits(const fs_attention* a, int64_t items, int threads) {
    if (!fs_cpu_get_split_kv() || a->q_len > kSplitKvMaxQueries || items >= 2 * threads) return 1;
    const int64_t wanted = (2 * threads + items - 1) / items;
    return std::max<int64_t>(1, std::min(wanted, a->k_len / kSplitKvMinKeys));
}

template <int kScoreRows, int kScoreVecs, int kOutRows, int kOutVecs>
void forward(const fs_attention* a, fs_operand out) {
    constexpr int W = VecF::kWidth;
    const int64_t d = a->head_dim;
    const int64_t dp = round_up(d, W);
    const int64_t group = a->heads / a->kv_heads;
    const int64_t blocks = (a->q_len + kQueryBlock - 1) / kQueryBlock;
    // Float32 rows with unit stride are read in place; everything else is packed per tile.
    const bool direct_keys = a->dtype == FS_FLOAT32 && a->k.stride[3] == 1;
    const bool key_padding = a->keep && a->keep_stride[2] == 0;
    const bool direct_values =
        a->dtype == FS_FLOAT32 && a->v.stride[3] == 1 && d % W == 0 && !key_padding;

    // A work item is a group of query blocks of one head: each key and value tile, once in
    // cache, serves them all, which cuts the traffic of K and V per flop at long lengths.
    // Decoding with GQA/MQA (few queries, several query heads per kv head) instead makes an item
    // of a kv head whose one block holds the queries of all its heads side by side (column
    // hh * q_len + i: query i of head g * group + hh): each key and value tile is read once per kv
    // head, not once per query head, and the score tile is as wide as the group's queries rather
    // than one vector per head. Only when those columns fit a query block and a keep mask is the
    // same for every head (padded keys' value rows are zeroed in the shared tile).
    const bool grouped = group > 1 && a->q_len <= kSplitKvMaxQueries &&
                         group * a->q_len <= kQueryBlock && (!a->keep || a->keep_stride[1] == 0);
    // Columns of the score tile: a query block, fewer when there are fewer queries (decode), or
    // the group's queries.
    const int64_t block_cols = grouped ? group * a->q_len : std::min(kQueryBlock, a->q_len);
    const int64_t brp = round_up(block_cols, W);
    const int64_t item_heads = grouped ? a->kv_heads : a->heads;
    const int64_t groups = (blocks + kQueryBlocksPerItem - 1) / kQueryBlocksPerItem;
    const int64_t items = a->batch * item_heads * groups;
    flash_sigmoid::ThreadPool& pool = flash_sigmoid::ThreadPool::instance();
    // With splits > 1 each item has one block of block_cols <= kQueryBlock rows; split s covers
    // keys [s * split_len, (s + 1) * split_len) and writes its rows to `partial`.
    const int64_t splits = key_splits(a, items, pool.threads());
    const int64_t split_len = round_up((a->k_len + splits - 1) / splits, kKeyTile);
    std::vector<double> partial(splits > 1 ? static_cast<size_t>(items * splits * block_cols * dp)
                                           : 0);
    // Output row r of a block that starts at query i0 of head h: (query, head) it belongs to.
    auto out_row = [&](int64_t h, int64_t i0, int64_t r) {
        return grouped ? std::pair<int64_t, int64_t>{r % a->q_len, h + r / a->q_len}
                       : std::pair<int64_t, int64_t>{i0 + r, h};
    };

    pool.parallel_for(items * splits, [&](int64_t work, int) {
        const int64_t split = work % splits;
        const int64_t item = work / splits;
        const int64_t qg = item % groups;
        const int64_t item_head = (item / groups) % item_heads;
        const int64_t b = item / (groups * item_heads);
        // The item's (first) query head and its kv head.
        const int64_t h = grouped ? item_head * group : item_head;
        const int64_t g = grouped ? item_head : item_head / group;
        const int64_t first_block = qg * kQueryBlocksPerItem;
        const int64_t n_blocks = std::min(kQueryBlocksPerItem, blocks - first_block);
        const HeadContext ctx = head_context(a, b, h);

        Scratch& s = thread_scratch();
        float* qts = s.get(0, n_blocks * d * brp);
        float* kt = s.get(1, kKeyTile * d);
        float* vt = s.get(2, kKeyTile * dp);
        float* st = s.get(3, kKeyTile * brp);
        float* accs = s.get(4, n_blocks * kQueryBlock * dp);
        float* staging = s.get(5, kQueryBlock * d);
        double* sums = s.get_wide(0, n_blocks * kQueryBlock * dp);
        // Rows of each block's accumulator that hold outputs.
        auto block_rows = [&](int64_t blk) {
            return grouped ? block_cols
                           : std::min(kQueryBlock, a->q_len - (first_block + blk) * kQueryBlock);
        };
        auto flush = [&] {
            for (int64_t blk = 0; blk < n_blocks; ++blk) {
                const int64_t at = blk * kQueryBlock * dp;
                flush_into(sums + at, accs + at, block_rows(blk) * dp);
            }
        };
        ColumnContexts columns{};
        if (grouped) {
            columns = {s.get(6, brp), s.get(7, brp), s.get(8, brp)};
            column_contexts(a, h, a->q_len, block_cols, brp, columns);
        }

        int64_t key_end = 0;
        for (int64_t blk = 0; blk < n_blocks; ++blk) {
            const int64_t i0 = (first_block + blk) * kQueryBlock;
            const int64_t rows = std::min(kQueryBlock, a->q_len - i0);
            if (grouped) {
                std::fill(qts, qts + d * brp, 0.0f);
                for (int64_t hh = 0; hh < group; ++hh) {
                    pack_transposed(a->dtype, a->q, b, 0, h + hh, rows, d, a->scale,
                                    qts + hh * rows, brp, staging, false);
                }
            } else {
                pack_transposed(a->dtype, a->q, b, i0, h, rows, d, a->scale, qts + blk * d * brp,
                                brp, staging);
            }
            std::fill(accs + blk * kQueryBlock * dp, accs + (blk + 1) * kQueryBlock * dp, 0.0f);
            std::fill(sums + blk * kQueryBlock * dp, sums + (blk + 1) * kQueryBlock * dp, 0.0);
            key_end = std::max(key_end, visible_key_end(a, b, i0, rows));
        }
        const int64_t key_begin = split * split_len;
        if (splits > 1) key_end = std::min(key_end, key_begin + split_len);

        int64_t pending_tiles = 0;
        for (int64_t j0 = key_begin; j0 < key_end; j0 += kKeyTile) {
            if (pending_tiles++ == kTilesPerFlush) {
                flush();
                pending_tiles = 1;
            }
            const int64_t tile_keys = std::min(kKeyTile, key_end - j0);
            const float* k_rows;
            int64_t k_rs;
            if (direct_keys) {
                k_rows = static_cast<const float*>(a->k.data) + offset4(a->k, b, j0, g);
                k_rs = a->k.stride[1];
            } else {
                pack_rows(a->dtype, a->k, b, j0, g, tile_keys, d, kt, d);
                k_rows = kt;
                k_rs = d;
            }
            const float* v_rows;
            int64_t v_ld;
            if (direct_values) {
                v_rows = static_cast<const float*>(a->v.data) + offset4(a->v, b, j0, g);
                v_ld = a->v.stride[1];
            } else {
                pack_rows(a->dtype, a->v, b, j0, g, tile_keys, d, vt, dp);
                // A padded key must not leak a non-finite value through 0 * v.
                for (int64_t r = 0; r < tile_keys; ++r) {
                    if (key_padded(ctx, j0 + r)) std::fill(vt + r * dp, vt + (r + 1) * dp, 0.0f);
                }
                v_rows = vt;
                v_ld = dp;
            }
            for (int64_t blk = 0; blk < n_blocks; ++blk) {
                const int64_t i0 = (first_block + blk) * kQueryBlock;
                const int64_t rows = std::min(kQueryBlock, a->q_len - i0);
                // Causal: this block sees keys [0, visible), maybe only part of the tile.
                const int64_t keys = std::min(tile_keys, visible_key_end(a, b, i0, rows) - j0);
                if (keys <= 0) continue;
                // S^T (keys x columns) = K Q^T, scale folded into Q^T.
                gemm<kScoreRows, kScoreVecs>(keys, brp, d, k_rows, k_rs, 1, qts + blk * d * brp,
                                             brp, st, brp, false);
                if (grouped) {
                    grouped_scores_to_weights(a, b, a->q_len, j0, keys, block_cols, columns, st,
                                              brp);
                } else {
                    scores_to_weights(ctx, j0, keys, i0, rows, st, brp);
                }
                // O (columns x D) += P V, reading P from the transposed tile.
                gemm<kOutRows, kOutVecs>(grouped ? block_cols : rows, dp, keys, st, 1, brp, v_rows,
                                         v_ld, accs + blk * kQueryBlock * dp, dp, true);
            }
        }
        flush();
        if (splits > 1) {
            std::copy(sums, sums + block_cols * dp, partial.data() + work * block_cols * dp);
            return;
        }
        for (int64_t blk = 0; blk < n_blocks; ++blk) {
            const int64_t i0 = (first_block + blk) * kQueryBlock;
            const double* sum = sums + blk * kQueryBlock * dp;
            for (int64_t r = 0; r < block_rows(blk); ++r) {
                const auto [i, head] = out_row(h, i0, r);
                store_wide_row(a->dtype, out.data, offset4(out, b, i, head), out.stride[3], d,
                               sum + r * dp, staging);
            }
        }
    });
    if (splits == 1) return;
    // The sum of the splits' partial outputs, one item (one block: groups == 1) at a time.
    pool.parallel_for(items, [&](int64_t item, int) {
        const int64_t item_head = item % item_heads;
        const int64_t b = item / item_heads;
        const int64_t h = grouped ? item_head * group : item_head;
        Scratch& s = thread_scratch();
        double* sum = s.get_wide(0, dp);
        float* row = s.get(5, dp);
        for (int64_t r = 0; r < block_cols; ++r) {
            std::fill(sum, sum + dp, 0.0);
            for (int64_t split = 0; split < splits; ++split) {
                const double* part =
                    partial.data() + ((item * splits + split) * block_cols + r) * dp;
                for (int64_t e = 0; e < dp; ++e) sum[e] += part[e];
            }
            const auto [i, head] = out_row(h, 0, r);
            store_wide_row(a->dtype, out.data, offset4(out, b, i, head), out.stride[3], d, sum,
                           row);
        }
    });
}
