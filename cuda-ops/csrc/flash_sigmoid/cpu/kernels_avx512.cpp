// The CPU kernels built for one instruction set (avx512); see flash_sigmoid_cpu.cpp for dispatch.
#define FS_ISA_AVX512 1

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>
#include <immintrin.h>

#include "../flash_sigmoid.h"
#include "thread_pool.h"

namespace fs_avx512 {
#include "convert.h"
#include "simd.h"
#include "gemm.h"
#include "tiles.h"
#include "fwd_kernel.h"
#include "bwd_kernel.h"

// Register tiles (score rows, score vectors, output rows, output vectors) sized to the
// instruction set's register file.
void run_forward(const fs_attention* a, fs_operand out) {
    forward<12, 2, 6, 4>(a, out);
}

void run_backward(const fs_attention* a, fs_operand dout, fs_operand dq, fs_operand dk,
                  fs_operand dv, float* d_head_bias) {
    backward<12, 2, 6, 4>(a, dout, dq, dk, dv, d_head_bias);
}
}  // namespace fs_avx512
