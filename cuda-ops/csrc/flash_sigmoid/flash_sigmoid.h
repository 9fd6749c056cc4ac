/*
 * FlashSigmoid kernels behind a C ABI: raw pointers, sizes and strides, no PyTorch types.
 *
 *   out[b, i, h, :] = sum_j keep(b, h, i, j) * sigmoid(s_ij) * v[b, j, h / (H / G), :]
 *   s_ij = scale * q[b, i, h, :] . k[b, j, h / (H / G), :] + bias + head_bias[h]
 *          - alibi_slopes[h] * |i + Tk - Tq - j|
 *
 * with keys j > i + Tk - Tq masked when causal (aligned at the bottom right, as FlashAttention
 * does when Tq != Tk). A masked position contributes exactly zero. Strides are in elements.
 *
 * Variable-length batches: with key_lengths set, sequence b attends to keys j < key_lengths[b]
 * only, exactly as a right-padded key-padding mask would, and the kernels never read (or spend
 * work on) the keys and values past it. Causal alignment and ALiBi distances still use the padded
 * Tk. The gradients of the keys and values past a sequence's length are zero.
 */
#ifndef FLASH_SIGMOID_H_
#define FLASH_SIGMOID_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fs_dtype { FS_FLOAT32 = 0, FS_FLOAT16 = 1, FS_BFLOAT16 = 2 } fs_dtype;

/* One strided 4-D operand: (B, T, heads, D) for q, k, v, out and their gradients. */
typedef struct fs_operand {
    void* data;
    int64_t stride[4];
} fs_operand;

typedef struct fs_attention {
    fs_dtype dtype; /* of q, k, v, out and the gradients */
    fs_operand q;   /* (B, Tq, H, D) */
    fs_operand k;   /* (B, Tk, G, D) */
    fs_operand v;   /* (B, Tk, G, D) */
    int64_t batch, q_len, k_len, heads, kv_heads, head_dim;
    float scale;
    float bias;
    int causal;
    const float* head_bias;     /* (H) added per head, or NULL */
    const float* alibi_slopes;  /* (H), or NULL */
    const uint8_t* keep;        /* nonzero where attention is allowed, or NULL */
    int64_t keep_stride[4];     /* over (B, H, Tq, Tk); 0 broadcasts a dimension */
    const int32_t* key_lengths; /* (B), each in [0, Tk]: keys of sequence b, or NULL for all Tk */
} fs_attention;

/* Status codes; on failure the message buffer holds the reason. */
enum { FS_OK = 0, FS_INVALID_ARGUMENT = 1, FS_OUT_OF_MEMORY = 2, FS_INTERNAL_ERROR = 3 };

/* Writes out (B, Tq, H, D). */
int fs_cpu_forward(const fs_attention* attn, fs_operand out, char* message, size_t message_size);

/*
 * Writes dq (B, Tq, H, D), dk and dv (B, Tk, G, D), and, when d_head_bias is not NULL, the
 * gradient of the per-head bias (H) in float32 (its sum is the gradient of the scalar bias).
 */
int fs_cpu_backward(const fs_attention* attn, fs_operand dout, fs_operand dq, fs_operand dk,
                    fs_operand dv, float* d_head_bias, char* message, size_t message_size);

/* Worker threads of the CPU kernels (default: the CPUs this process may run on). */
void fs_cpu_set_num_threads(int threads);
int fs_cpu_get_num_threads(void);

/* The instruction set the CPU kernels run on: "avx512", "avx2" or "generic". The best one this
 * CPU supports is picked at load time, or the one named by FLASH_SIGMOID_CPU_ISA. */
const char* fs_cpu_isa(void);

/* Picks the instruction set; FS_INVALID_ARGUMENT if unknown or unsupported by this CPU. */
int fs_cpu_set_isa(const char* isa);

/* Whether the CPU forward splits the key range of few-query problems (decoding) across threads
 * and sums the partial outputs (default 1). For benchmarks and tests. */
void fs_cpu_set_split_kv(int enabled);
int fs_cpu_get_split_kv(void);

/*
 * CUDA kernels (present when the library was built with nvcc; see fs_cuda_available). Same
 * function as the CPU kernels; every pointer is a device pointer on the current CUDA device
 * (head_bias, alibi_slopes and keep too). Only float16 and bfloat16, the last stride of every
 * operand 1 and the other strides multiples of 8 elements, data 16-byte aligned. `stream` is a
 * cudaStream_t. Errors come back as status codes with the message, never as aborts.
 */
int fs_cuda_available(void);

/* The head dims the CUDA kernels were compiled for: writes up to `capacity` of them to `out` and
 * returns how many there are (0 in a build without CUDA kernels). */
int fs_cuda_head_dims(int* out, int capacity);

int fs_cuda_forward(const fs_attention* attn, fs_operand out, void* stream, char* message,
                    size_t message_size);

/* Bytes of float32 scratch fs_cuda_backward needs for this problem (may be 0). */
size_t fs_cuda_backward_workspace_size(const fs_attention* attn);

/* `workspace`: device memory of fs_cuda_backward_workspace_size bytes, 256-byte aligned, any
 * content (the kernels clear what they need on `stream`). */
int fs_cuda_backward(const fs_attention* attn, fs_operand dout, fs_operand dq, fs_operand dk,
                     fs_operand dv, float* d_head_bias, void* workspace, void* stream,
                     char* message, size_t message_size);

/* Which kernel family fs_cuda_forward would run for this problem on the current device:
 * "decode" (split-KV, at most 16 query rows per kv head), "sm90" (wgmma/TMA), "generic" (mma.sync)
 * or NULL when unsupported. For benchmarks and tests. */
const char* fs_cuda_forward_kernel(const fs_attention* attn);

#ifdef __cplusplus
}
#endif

#endif /* FLASH_SIGMOID_H_ */
