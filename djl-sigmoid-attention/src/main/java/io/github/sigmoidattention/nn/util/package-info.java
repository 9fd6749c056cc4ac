/**
 * Helpers the packages of this module share (argument checks, the saved-block format, DJL's data
 * type limits). Internal: not part of the API.
 */
package io.github.sigmoidattention.nn.util;
