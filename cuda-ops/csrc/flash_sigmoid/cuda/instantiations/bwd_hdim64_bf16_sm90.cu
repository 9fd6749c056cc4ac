#include "../hopper/bwd_launch.h"

FS_INSTANTIATE_BACKWARD_SM90(__nv_bfloat16, 64)
