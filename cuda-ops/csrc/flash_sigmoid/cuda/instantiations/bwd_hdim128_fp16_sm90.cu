#include "../hopper/bwd_launch.h"

FS_INSTANTIATE_BACKWARD_SM90(__half, 128)
