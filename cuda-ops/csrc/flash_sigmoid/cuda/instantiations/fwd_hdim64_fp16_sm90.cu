#include "../hopper/fwd_launch.h"

FS_INSTANTIATE_FORWARD_SM90(__half, 64)
