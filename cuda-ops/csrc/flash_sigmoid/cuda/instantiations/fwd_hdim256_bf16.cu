// One explicit instantiation per translation unit, so the build compiles them in parallel.
#include "../generic/launch_templates.h"

namespace flash_sigmoid::cuda {
template void run_forward_generic<__nv_bfloat16, 256>(const FwdParams&, cudaStream_t);
}  // namespace flash_sigmoid::cuda
