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
import io.github.sigmoidattention.nn.attention.KvCache;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Random;
import java.util.function.Consumer;

/**
 * Generates text from a trained {@link CharLanguageModel}, one character at a time: greedily (the
 * most likely character, deterministic) or by sampling from the softmax with a seeded random
 * source.
 *
 * <p>The context is the text from a start position on, at most n characters; when a new character
 * would make it longer, the start jumps ahead to keep the last n / 2 characters. By default (for
 * models whose attention has a KV cache, the sigmoid variants) each step feeds only the new
 * character and reuses the cached keys and values of the context; the cache is refilled when the
 * start jumps. Without the cache every step recomputes the whole context: the same tokens, at far
 * more work.
 */
public final class TextGenerator {

    private final Block model;
    private final CharCorpus vocabulary;
    private final int contextLength;
    private final boolean kvCache;

    /**
     * Wraps a trained model, decoding with the KV cache when the model has one.
     *
     * @param model the language model (inference only: nothing is trained here)
     * @param vocabulary the characters the model was trained on
     * @param contextLength the model's sequence length n
     */
    public TextGenerator(Block model, CharCorpus vocabulary, int contextLength) {
        this(model, vocabulary, contextLength, true);
    }

    /**
     * Wraps a trained model.
     *
     * @param model the language model (inference only: nothing is trained here)
     * @param vocabulary the characters the model was trained on
     * @param contextLength the model's sequence length n
     * @param kvCache whether to decode with the KV cache when the model has one (false recomputes
     *     the whole context at every step)
     */
    public TextGenerator(Block model, CharCorpus vocabulary, int contextLength, boolean kvCache) {
        this.model = model;
        this.vocabulary = vocabulary;
        this.contextLength = contextLength;
        this.kvCache =
                kvCache
                        && model instanceof CharLanguageModel
                        && ((CharLanguageModel) model).supportsKvCache();
    }

    /**
     * Returns whether generation reuses cached keys and values.
     *
     * @return true when decoding with the KV cache
     */
    public boolean usesKvCache() {
        return kvCache;
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
        return generate(manager, prompt, length, random, promptLogits, c -> {});
    }

    /**
     * Continues a prompt, handing each generated character to {@code onCharacter} as soon as it is
     * decoded (for streaming).
     *
     * @param manager where the temporary arrays live (each step frees its own)
     * @param prompt the text to continue, made of characters of the vocabulary (not empty)
     * @param length how many characters to add (0 to 10,000)
     * @param random null for greedy decoding, else the source of the sampling
     * @param promptLogits the model's (1, T, V) logits for the last T characters of the prompt, or
     *     null to compute them
     * @param onCharacter called with every generated character, in order
     * @return the prompt followed by the generated characters
     */
    public String generate(
            NDManager manager,
            String prompt,
            int length,
            Random random,
            NDArray promptLogits,
            Consumer<Character> onCharacter) {
        check(prompt, length, "prompt", "length");
        return decode(
                manager,
                prompt,
                length,
                promptLogits,
                (i, scores) -> {
                    char next = vocabulary.decode(pick(scores, random));
                    onCharacter.accept(next);
                    return next;
                });
    }

    /**
     * Measures how greedy a continuation is: for each of its characters, how far the model's
     * largest logit lies above that character's logit at its step, in the context (and with the
     * cache) that {@link #generate} decodes with. The continuation that greedy decoding produces
     * has all gaps zero; one decoded by another process (other threads, other reduction orders) may
     * take the other side of a near-tie, and then its gaps stay at float rounding.
     *
     * @param manager where the temporary arrays live (each step frees its own)
     * @param prompt the text the continuation follows, made of vocabulary characters (not empty)
     * @param continuation the characters to measure (vocabulary characters, at most 10,000)
     * @return the continuation's gaps, one per character, each at least 0
     */
    public float[] greedyGaps(NDManager manager, String prompt, String continuation) {
        Objects.requireNonNull(continuation, "continuation");
        check(prompt, continuation.length(), "prompt", "continuation length");
        int[] ids = vocabulary.encode(continuation, "continuation");
        float[] gaps = new float[ids.length];
        decode(
                manager,
                prompt,
                ids.length,
                null,
                (i, scores) -> {
                    float[] logits = scores.toFloatArray();
                    float max = Float.NEGATIVE_INFINITY;
                    for (float logit : logits) {
                        max = Math.max(max, logit);
                    }
                    gaps[i] = max - logits[ids[i]];
                    return continuation.charAt(i);
                });
        return gaps;
    }

    /** Chooses the character of step {@code i} from the (V) float32 logits of the last position. */
    private interface StepChoice {
        char next(int i, NDArray scores);
    }

    private String decode(
            NDManager manager, String prompt, int length, NDArray promptLogits, StepChoice choice) {
        StringBuilder text = new StringBuilder(prompt);
        ParameterStore parameters = new ParameterStore(manager, false);
        int start = Math.max(0, text.length() - contextLength);
        try (NDManager cacheManager = manager.newSubManager()) {
            KvCache[] caches =
                    kvCache ? ((CharLanguageModel) model).newKvCaches(cacheManager, 1) : null;
            int cacheStart = start; // the text position of the cache's first entry
            for (int i = 0; i < length; i++) {
                if (text.length() - start > contextLength) {
                    start = text.length() - Math.max(1, contextLength / 2);
                }
                try (NDManager step = manager.newSubManager()) {
                    NDArray logits = promptLogits;
                    if (i > 0 || logits == null) {
                        if (caches != null) {
                            if (cacheStart != start) {
                                for (KvCache cache : caches) {
                                    cache.reset();
                                }
                                cacheStart = start;
                            }
                            // Only the characters the cache lacks: the whole context after a
                            // reset, else the last one.
                            int[] ids =
                                    vocabulary.encode(
                                            text.substring(start + caches[0].getLength()));
                            NDArray input = step.create(ids, new Shape(1, ids.length));
                            logits =
                                    ((CharLanguageModel) model)
                                            .forwardCached(parameters, input, caches);
                        } else {
                            int[] ids = vocabulary.encode(text.substring(start));
                            NDArray input = step.create(ids, new Shape(1, ids.length));
                            logits =
                                    model.forward(parameters, new NDList(input), false)
                                            .singletonOrThrow();
                        }
                    }
                    long last = logits.getShape().get(1) - 1;
                    NDArray scores =
                            logits.get(new NDIndex(0, last)).toType(DataType.FLOAT32, false);
                    text.append(choice.next(i, scores));
                }
            }
        }
        return text.toString();
    }

    /**
     * Continues several prompts together, as {@link #generate} continues each alone: the prompts
     * are left-padded into one batch and decoded with one KV cache, each row at its own positions
     * and with its own context window. Models without a KV cache continue them one by one.
     *
     * @param manager where the temporary arrays live (each step frees its own)
     * @param prompts the texts to continue (each not empty, of vocabulary characters)
     * @param lengths how many characters to add to each (0 to 10,000)
     * @param randoms per prompt, null for greedy decoding, else the source of its sampling
     * @param promptLogits the model's (B, T, V) logits of the left-padded prompts' last T
     *     characters ({@code [ids, mask]} of {@link #paddedBatch}); without a KV cache, the (1, T,
     *     V) logits of the first prompt alone; or null to compute them
     * @return each prompt followed by its generated characters
     */
    public List<String> generateBatch(
            NDManager manager,
            List<String> prompts,
            int[] lengths,
            Random[] randoms,
            NDArray promptLogits) {
        int b = prompts.size();
        if (lengths.length != b || randoms.length != b) {
            throw new IllegalArgumentException(
                    "lengths, randoms: expected "
                            + b
                            + " each (one per prompt), got "
                            + lengths.length
                            + " and "
                            + randoms.length);
        }
        if (!kvCache || b == 1) {
            List<String> out = new ArrayList<>();
            for (int r = 0; r < b; r++) {
                // The predictor's logits are of the first prompt alone (unpadded).
                NDArray logits = r == 0 ? promptLogits : null;
                out.add(generate(manager, prompts.get(r), lengths[r], randoms[r], logits));
            }
            return out;
        }
        StringBuilder[] texts = new StringBuilder[b];
        int[] starts = new int[b];
        int longest = 0;
        for (int r = 0; r < b; r++) {
            String prompt = prompts.get(r);
            check(prompt, lengths[r], "prompts[" + r + "]", "lengths[" + r + "]");
            texts[r] = new StringBuilder(prompt);
            starts[r] = Math.max(0, prompt.length() - contextLength);
            longest = Math.max(longest, lengths[r]);
        }
        CharLanguageModel lm = (CharLanguageModel) model;
        ParameterStore parameters = new ParameterStore(manager, false);
        NDManager cacheManager = manager.newSubManager();
        try {
            KvCache[] caches = null;
            for (int i = 0; i < longest; i++) {
                // A row whose context is full jumps ahead, as generate does; the caches are then
                // refilled for every row (each with its own context, so nothing else changes).
                boolean refill = caches == null;
                for (int r = 0; r < b; r++) {
                    if (texts[r].length() - starts[r] > contextLength) {
                        starts[r] = texts[r].length() - Math.max(1, contextLength / 2);
                        refill = true;
                    }
                }
                try (NDManager step = manager.newSubManager()) {
                    NDArray logits;
                    if (i == 0 && promptLogits != null) {
                        logits = promptLogits;
                    } else if (refill) {
                        cacheManager.close();
                        cacheManager = manager.newSubManager();
                        caches = lm.newKvCaches(cacheManager, b);
                        NDList batch = paddedBatch(step, contexts(texts, starts));
                        logits =
                                lm.forwardCached(
                                        parameters,
                                        batch.get(0),
                                        CharLanguageModel.paddedPositions(batch.get(1)),
                                        batch.get(1),
                                        caches);
                    } else {
                        int[] ids = new int[b];
                        long[] positions = new long[b];
                        for (int r = 0; r < b; r++) {
                            ids[r] =
                                    vocabulary.encode(texts[r].substring(texts[r].length() - 1))[0];
                            positions[r] = texts[r].length() - starts[r] - 1;
                        }
                        logits =
                                lm.forwardCached(
                                        parameters,
                                        step.create(ids, new Shape(b, 1)),
                                        step.create(positions, new Shape(b, 1)),
                                        null,
                                        caches);
                    }
                    long last = logits.getShape().get(1) - 1;
                    NDArray scores =
                            logits.get(new NDIndex(":, {}", last)).toType(DataType.FLOAT32, false);
                    for (int r = 0; r < b; r++) {
                        // Finished rows keep decoding (discarded) so the batch stays aligned.
                        texts[r].append(vocabulary.decode(pick(scores.get(r), randoms[r])));
                    }
                }
            }
        } finally {
            cacheManager.close();
        }
        List<String> out = new ArrayList<>();
        for (int r = 0; r < b; r++) {
            out.add(texts[r].substring(0, prompts.get(r).length() + lengths[r]));
        }
        return out;
    }

    /** The checks of one request, naming the arguments as the caller calls them. */
    private void check(String prompt, int length, String promptName, String lengthName) {
        if (prompt == null || prompt.isEmpty()) {
            throw new IllegalArgumentException(promptName + ": must not be empty");
        }
        if (length < 0 || length > 10_000) {
            throw new IllegalArgumentException(
                    lengthName + ": must be in [0, 10000], got " + length);
        }
        vocabulary.encode(prompt, promptName); // rejects characters the model never saw
    }

    private static List<String> contexts(StringBuilder[] texts, int[] starts) {
        List<String> contexts = new ArrayList<>();
        for (int r = 0; r < texts.length; r++) {
            contexts.add(texts[r].substring(starts[r]));
        }
        return contexts;
    }

    /**
     * Left-pads texts into one batch: [ids (B, T) int32, mask (B, T) float32, 1 on real
     * characters], T the longest text.
     *
     * @param manager where the arrays live
     * @param texts the texts, of vocabulary characters
     * @return the ids and the mask
     */
    public NDList paddedBatch(NDManager manager, List<String> texts) {
        int width = 0;
        for (String t : texts) {
            width = Math.max(width, t.length());
        }
        int[] ids = new int[texts.size() * width];
        float[] mask = new float[ids.length];
        for (int r = 0; r < texts.size(); r++) {
            int[] row = vocabulary.encode(texts.get(r));
            int pad = width - row.length;
            System.arraycopy(row, 0, ids, r * width + pad, row.length);
            java.util.Arrays.fill(mask, r * width + pad, (r + 1) * width, 1f);
        }
        Shape shape = new Shape(texts.size(), width);
        return new NDList(manager.create(ids, shape), manager.create(mask, shape));
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
