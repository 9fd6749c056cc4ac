package io.github.sigmoidattention.examples.lm;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.ndarray.NDManager;
import io.github.sigmoidattention.examples.CharCorpus;
import io.github.sigmoidattention.examples.FineTuneComparison;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;

/**
 * A model saved by {@link FineTuneComparison} (parameters, {@code model.properties}, {@code
 * vocabulary.txt}), loaded with DJL for generating text in code, outside any server.
 */
public final class SavedCharModel implements AutoCloseable {

    private final Model model;
    private final LanguageModelConfig config;
    private final CharCorpus vocabulary;

    private SavedCharModel(Model model, LanguageModelConfig config, CharCorpus vocabulary) {
        this.model = model;
        this.config = config;
        this.vocabulary = vocabulary;
    }

    /**
     * Loads a saved model on the default device.
     *
     * @param dir the directory FineTuneComparison wrote for one variant
     * @return the model, to close after use
     * @throws IOException if a file cannot be read
     * @throws MalformedModelException if the parameters do not fit the configuration
     */
    public static SavedCharModel load(Path dir) throws IOException, MalformedModelException {
        Properties properties = new Properties();
        try (Reader r = Files.newBufferedReader(dir.resolve("model.properties"))) {
            properties.load(r);
        }
        @SuppressWarnings("unchecked")
        LanguageModelConfig config =
                LanguageModelConfig.fromArguments((Map<String, ?>) (Map<?, ?>) properties);
        CharCorpus vocabulary =
                CharCorpus.fromText(
                        Files.readString(dir.resolve("vocabulary.txt"), StandardCharsets.UTF_8));
        Model model = Model.newInstance(FineTuneComparison.MODEL_NAME);
        try {
            model.setBlock(new CharLanguageModel(config));
            model.load(dir, FineTuneComparison.MODEL_NAME);
        } catch (IOException | MalformedModelException | RuntimeException e) {
            model.close();
            throw e;
        }
        return new SavedCharModel(model, config, vocabulary);
    }

    /**
     * Returns the loaded DJL model.
     *
     * @return the model, whose block is a {@link CharLanguageModel}
     */
    public Model model() {
        return model;
    }

    /**
     * Returns the sizes and the attention variant.
     *
     * @return the configuration
     */
    public LanguageModelConfig config() {
        return config;
    }

    /**
     * Returns the characters the model knows.
     *
     * @return the vocabulary
     */
    public CharCorpus vocabulary() {
        return vocabulary;
    }

    /**
     * Returns a generator over this model.
     *
     * @param kvCache whether to decode with the KV cache when the model has one
     * @return the generator
     */
    public TextGenerator generator(boolean kvCache) {
        return new TextGenerator(model.getBlock(), vocabulary, config.sequenceLength(), kvCache);
    }

    /**
     * Continues a prompt greedily.
     *
     * @param prompt the text to continue
     * @param length how many characters to add
     * @return the added characters (without the prompt)
     */
    public String greedy(String prompt, int length) {
        try (NDManager manager = NDManager.newBaseManager()) {
            return generator(true)
                    .generate(manager, prompt, length, null)
                    .substring(prompt.length());
        }
    }

    /**
     * Measures how greedy a continuation is under this model ({@link TextGenerator#greedyGaps}):
     * per character, its logit's distance below the largest at its step; zeros for {@link
     * #greedy}'s text.
     *
     * @param prompt the text the continuation follows
     * @param continuation the characters to measure
     * @return one gap per character of the continuation
     */
    public float[] greedyGaps(String prompt, String continuation) {
        try (NDManager manager = NDManager.newBaseManager()) {
            return generator(true).greedyGaps(manager, prompt, continuation);
        }
    }

    @Override
    public void close() {
        model.close();
    }
}
