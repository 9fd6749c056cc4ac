/**
 * The native FlashSigmoid op for DJL's PyTorch engine: fused sigmoid-attention kernels registered
 * as the PyTorch ops {@code flash_sigmoid::forward} and {@code flash_sigmoid::backward}, and
 * reachable from Java through {@link io.github.sigmoidattention.ops.FlashSigmoid}.
 */
package io.github.sigmoidattention.ops;
