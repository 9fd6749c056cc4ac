package io.github.sigmoidattention.examples.serving;

import ai.djl.Model;
import ai.djl.nn.Block;
import ai.djl.nn.BlockFactory;
import io.github.sigmoidattention.examples.lm.CharLanguageModel;
import io.github.sigmoidattention.examples.lm.LanguageModelConfig;
import java.nio.file.Path;
import java.util.Map;

/**
 * Builds the {@link CharLanguageModel} of a serving directory from the configuration its
 * serving.properties holds (variant, vocabularySize, embeddingSize, headCount, layers,
 * sequenceLength); DJL then loads the saved parameters into it.
 */
public final class CharLmBlockFactory implements BlockFactory {

    private static final long serialVersionUID = 1L;

    @Override
    public Block newBlock(Model model, Path modelPath, Map<String, ?> arguments) {
        return new CharLanguageModel(LanguageModelConfig.fromArguments(arguments));
    }
}
