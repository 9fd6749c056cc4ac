package io.github.sigmoidattention.examples.serving;

import ai.djl.Model;
import ai.djl.modality.Input;
import ai.djl.modality.Output;
import ai.djl.translate.TranslateException;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorFactory;
import ai.djl.util.Pair;
import io.github.sigmoidattention.examples.CharCorpus;
import io.github.sigmoidattention.examples.lm.LanguageModelConfig;
import java.io.IOException;
import java.lang.reflect.Type;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;
import java.util.Set;

/**
 * Makes a {@link CharLmTranslator} with the vocabulary stored next to the parameters: what {@link
 * CharLmServingTranslator} calls in DJL Serving, and a factory for {@code Criteria} in code.
 */
public final class CharLmTranslatorFactory implements TranslatorFactory {

    @Override
    public Set<Pair<Type, Type>> getSupportedTypes() {
        return Collections.singleton(new Pair<>(Input.class, Output.class));
    }

    @Override
    @SuppressWarnings("unchecked")
    public <I, O> Translator<I, O> newInstance(
            Class<I> input, Class<O> output, Model model, Map<String, ?> arguments)
            throws TranslateException {
        if (!isSupported(input, output)) {
            throw new IllegalArgumentException(
                    "CharLmTranslatorFactory translates Input to Output, not "
                            + input
                            + " to "
                            + output);
        }
        Path vocabularyFile = model.getModelPath().resolve("vocabulary.txt");
        try {
            CharCorpus vocabulary =
                    CharCorpus.fromText(Files.readString(vocabularyFile, StandardCharsets.UTF_8));
            LanguageModelConfig config = LanguageModelConfig.fromArguments(arguments);
            return (Translator<I, O>) new CharLmTranslator(vocabulary, config.sequenceLength());
        } catch (IOException e) {
            throw new TranslateException("cannot read the vocabulary " + vocabularyFile, e);
        }
    }
}
