/**
 * Normalisation and gain blocks used around sigmoid attention: {@link
 * io.github.sigmoidattention.nn.norm.RmsNorm}, {@link
 * io.github.sigmoidattention.nn.norm.LayerScale} and the choice between layer and RMS
 * normalisation, {@link io.github.sigmoidattention.nn.norm.NormKind}.
 */
package io.github.sigmoidattention.nn.norm;
