/** Programs that show the sigmoid-attention block at work: the encoder demo and, later, more. */
package io.github.sigmoidattention.examples;
