// One explicit instantiation per translation unit, so the build compiles them in parallel.
#include "../generic/launch_templates.h"

namespace flash_sigmoid::cuda {
template void run_backward_generic<__half, 256>(const BwdParams&, cudaStream_t);
template void run_dq_conversion<__half, 256>(const BwdParams&, cudaStream_t);
}  // namespace flash_sigmoid::cuda
