// The CPU kernels built for one instruction set (generic); see flash_sigmoid_cpu.cpp for dispatch.
// Portable build: the compiler's baseline instruction set.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "../flash_sigmoid.h"
#include "thread_pool.h"

namespace fs_generic {
#include "convert.h"
#include "simd.h"
#include "gemm.h"
#include "tiles.h"
#include "fwd_kernel.h"
#include "bwd_kernel.h"

// Register tiles (score rows, score vectors, output rows, output vectors) sized to the
// instruction set's register file.
void run_forward(const fs_attention* a, fs_operand out) {
    forward<4, 2, 4, 2>(a, out);
}

void run_backward(const fs_attention* a, fs_operand dout, fs_operand dq, fs_operand dk,
                  fs_operand dv, float* d_head_bias) {
    backward<4, 2, 4, 2>(a, dout, dq, dk, dv, d_head_bias);
}
}  // namespace fs_generic
