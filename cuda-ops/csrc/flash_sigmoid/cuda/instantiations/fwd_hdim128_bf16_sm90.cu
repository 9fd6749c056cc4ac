#include "../hopper/fwd_launch.h"

FS_INSTANTIATE_FORWARD_SM90(__nv_bfloat16, 128)
