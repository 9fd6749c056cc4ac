// One explicit instantiation per translation unit, so the build compiles them in parallel.
#include "../generic/decode_kernel.h"

namespace flash_sigmoid::cuda {
template void run_decode<__half, 64>(const FwdParams&, cudaStream_t);
}  // namespace flash_sigmoid::cuda
