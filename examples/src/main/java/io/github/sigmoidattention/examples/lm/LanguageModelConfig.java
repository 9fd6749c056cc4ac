package io.github.sigmoidattention.examples.lm;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The sizes of a {@link CharLanguageModel} and its attention variant.
 *
 * @param variant the attention of every layer
 * @param vocabularySize V, the number of distinct characters
 * @param embeddingSize E
 * @param headCount H (E must be divisible by H)
 * @param layers the number of encoder layers
 * @param sequenceLength the longest input, n (the sigmoid bias is -ln n)
 */
public record LanguageModelConfig(
        AttentionVariant variant,
        int vocabularySize,
        int embeddingSize,
        int headCount,
        int layers,
        int sequenceLength) {

    /** Validates the sizes. */
    public LanguageModelConfig {
        if (variant == null) {
            throw new IllegalArgumentException("variant: must not be null");
        }
        positive("vocabularySize", vocabularySize);
        positive("embeddingSize", embeddingSize);
        positive("headCount", headCount);
        positive("layers", layers);
        positive("sequenceLength", sequenceLength);
        if (embeddingSize % headCount != 0) {
            throw new IllegalArgumentException(
                    "embeddingSize: "
                            + embeddingSize
                            + " is not divisible by headCount "
                            + headCount);
        }
    }

    private static void positive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + ": must be positive, got " + value);
        }
    }

    /**
     * Returns the configuration as string arguments, the form serving.properties holds.
     *
     * @return name to value
     */
    public Map<String, String> toArguments() {
        Map<String, String> out = new LinkedHashMap<>();
        out.put("variant", variant.name());
        out.put("vocabularySize", Integer.toString(vocabularySize));
        out.put("embeddingSize", Integer.toString(embeddingSize));
        out.put("headCount", Integer.toString(headCount));
        out.put("layers", Integer.toString(layers));
        out.put("sequenceLength", Integer.toString(sequenceLength));
        return out;
    }

    /**
     * Reads a configuration from arguments written by {@link #toArguments()}.
     *
     * @param arguments name to value (values may be strings or numbers)
     * @return the configuration
     */
    public static LanguageModelConfig fromArguments(Map<String, ?> arguments) {
        return new LanguageModelConfig(
                AttentionVariant.valueOf(required(arguments, "variant")),
                Integer.parseInt(required(arguments, "vocabularySize")),
                Integer.parseInt(required(arguments, "embeddingSize")),
                Integer.parseInt(required(arguments, "headCount")),
                Integer.parseInt(required(arguments, "layers")),
                Integer.parseInt(required(arguments, "sequenceLength")));
    }

    private static String required(Map<String, ?> arguments, String name) {
        Object value = arguments.get(name);
        if (value == null) {
            throw new IllegalArgumentException(
                    name + ": missing from the model arguments " + arguments.keySet());
        }
        return value.toString().trim();
    }

    void write(DataOutputStream os) throws IOException {
        os.writeUTF(variant.name());
        os.writeInt(vocabularySize);
        os.writeInt(embeddingSize);
        os.writeInt(headCount);
        os.writeInt(layers);
        os.writeInt(sequenceLength);
    }

    static LanguageModelConfig read(DataInputStream is) throws IOException {
        return new LanguageModelConfig(
                AttentionVariant.valueOf(is.readUTF()),
                is.readInt(),
                is.readInt(),
                is.readInt(),
                is.readInt(),
                is.readInt());
    }
}
