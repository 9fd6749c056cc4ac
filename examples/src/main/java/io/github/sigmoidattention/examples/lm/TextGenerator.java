package io.github.sigmoidattention.examples.lm;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;

import io.github.sigmoidattention.examples.CharCorpus;

import java.util.Random;

/**
 * Generates text from a trained {@link CharLanguageModel}, one character at a time, re-reading the
 * last n characters of context at each step: greedily (the most likely character, deterministic)
 * or by sampling from the softmax with a seeded random source.
 */
public final class TextGenerator {

    private final Block model;
    private final CharCorpus vocabulary;
    private final int contextLength;

    /**
     * Wraps a trained model.
     *
     * @param model the language model (inference only: nothing is trained here)
     * @param vocabulary the characters the model was trained on
     * @param contextLength the model's sequence length n
     */
    public TextGenerator(Block model, CharCorpus vocabulary, int contextLength) {
        this.model = model;
        this.vocabulary = vocabulary;
        this.contextLength = contextLength;
    }

    /**
     * Continues a prompt.
     *
     * @param manager where the temporary arrays live (each step frees its own)
     * @param prompt the text to continue, made of characters of the vocabulary (not empty)
     * @param length how many characters to add (0 to 10,000)
     * @param random null for greedy decoding, else the source of the sampling
     * @return the prompt followed by the generated characters
     */
    public String generate(NDManager manager, String prompt, int length, Random random) {
        return generate(manager, prompt, length, random, null);
    }

    /**
     * Continues a prompt whose logits the caller has computed already (a predictor's forward pass).
     *
     * @param manager where the temporary arrays live (each step frees its own)
     * @param prompt the text to continue, made of characters of the vocabulary (not empty)
     * @param length how many characters to add (0 to 10,000)
     * @param random null for greedy decoding, else the source of the sampling
     * @param promptLogits the model's (1, T, V) logits for the last T characters of the prompt, or
     *     null to compute them
     * @return the prompt followed by the generated characters
     */
    public String generate(
            NDManager manager, String prompt, int length, Random random, NDArray promptLogits) {
        if (prompt == null || prompt.isEmpty()) {
            throw new IllegalArgumentException("prompt: must not be empty");
        }
        if (length < 0 || length > 10_000) {
            throw new IllegalArgumentException("length: must be in [0, 10000], got " + length);
        }
        vocabulary.encode(prompt); // rejects characters the model never saw, with their name
        StringBuilder text = new StringBuilder(prompt);
        ParameterStore parameters = new ParameterStore(manager, false);
        for (int i = 0; i < length; i++) {
            try (NDManager step = manager.newSubManager()) {
                NDArray logits = promptLogits;
                if (i > 0 || logits == null) {
                    int[] ids =
                            vocabulary.encode(
                                    text.substring(Math.max(0, text.length() - contextLength)));
                    NDArray input = step.create(ids, new Shape(1, ids.length));
                    logits = model.forward(parameters, new NDList(input), false).singletonOrThrow();
                }
                long last = logits.getShape().get(1) - 1;
                NDArray scores = logits.get(new NDIndex(0, last)).toType(DataType.FLOAT32, false);
                text.append(vocabulary.decode(pick(scores, random)));
            }
        }
        return text.toString();
    }

    /** The most likely id, or one drawn from the softmax of the scores. */
    private static int pick(NDArray scores, Random random) {
        if (random == null) {
            return (int) scores.argMax().getLong();
        }
        float[] probabilities = scores.softmax(0).toFloatArray();
        double u = random.nextDouble();
        for (int c = 0; c < probabilities.length; c++) {
            u -= probabilities[c];
            if (u <= 0) {
                return c;
            }
        }
        return probabilities.length - 1;
    }
}
