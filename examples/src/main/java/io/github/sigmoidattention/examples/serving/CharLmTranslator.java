package io.github.sigmoidattention.examples.serving;

import ai.djl.modality.Input;
import ai.djl.modality.Output;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoBatchifyTranslator;
import ai.djl.translate.TranslateException;
import ai.djl.translate.TranslatorContext;
import ai.djl.util.JsonUtils;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import io.github.sigmoidattention.examples.CharCorpus;
import io.github.sigmoidattention.examples.lm.TextGenerator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * Text generation over DJL Serving's {@link Input}/{@link Output}: JSON in, {@code {"prompt":
 * "ROMEO:", "length": 100}} with an optional {@code "seed"} (sampling; without it, greedy
 * decoding), JSON out, {@code {"generated_text": "...", "prompt": "...", "length": 100}}.
 */
public final class CharLmTranslator implements NoBatchifyTranslator<Input, Output> {

    /** The most characters one request may ask for. */
    public static final int MAX_LENGTH = 2000;

    private final CharCorpus vocabulary;
    private final int contextLength;

    /**
     * Creates the translator.
     *
     * @param vocabulary the model's characters
     * @param contextLength the model's sequence length n
     */
    public CharLmTranslator(CharCorpus vocabulary, int contextLength) {
        this.vocabulary = vocabulary;
        this.contextLength = contextLength;
    }

    /** A parsed request. */
    private record Request(String prompt, int length, Long seed) {}

    @Override
    public NDList processInput(TranslatorContext ctx, Input input) throws TranslateException {
        Request request = parse(input);
        ctx.setAttachment("request", request);
        // The predictor's own forward pass reads the prompt; generation continues from it.
        String context =
                request.prompt.substring(Math.max(0, request.prompt.length() - contextLength));
        int[] ids = vocabulary.encode(context);
        return new NDList(ctx.getNDManager().create(ids, new Shape(1, ids.length)));
    }

    @Override
    public Output processOutput(TranslatorContext ctx, NDList list) {
        Request request = (Request) ctx.getAttachment("request");
        TextGenerator generator = new TextGenerator(ctx.getBlock(), vocabulary, contextLength);
        String text =
                generator.generate(
                        ctx.getNDManager(),
                        request.prompt,
                        request.length,
                        request.seed == null ? null : new Random(request.seed),
                        list.singletonOrThrow());
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("generated_text", text.substring(request.prompt.length()));
        body.put("prompt", request.prompt);
        body.put("length", request.length);
        Output output = new Output();
        output.addProperty("Content-Type", "application/json");
        output.add(JsonUtils.GSON.toJson(body));
        return output;
    }

    private Request parse(Input input) throws TranslateException {
        String text = input.getData() == null ? null : input.getData().getAsString();
        if (text == null || text.isBlank()) {
            throw new TranslateException(
                    "request: the body must be JSON like {\"prompt\": \"ROMEO:\", \"length\": 100}");
        }
        JsonObject json;
        try {
            JsonElement element = JsonParser.parseString(text);
            if (!element.isJsonObject()) {
                throw new TranslateException(
                        "request: expected a JSON object, got " + abbreviate(text));
            }
            json = element.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new TranslateException("request: not valid JSON: " + abbreviate(text), e);
        }
        if (!json.has("prompt") || !json.get("prompt").isJsonPrimitive()) {
            throw new TranslateException("request: \"prompt\" (a string) is missing");
        }
        String prompt = json.get("prompt").getAsString();
        if (prompt.isEmpty()) {
            throw new TranslateException("request: \"prompt\" must not be empty");
        }
        for (int i = 0; i < prompt.length(); i++) {
            if (vocabulary.vocabulary().indexOf(prompt.charAt(i)) < 0) {
                throw new TranslateException(
                        "request: \"prompt\" has the character '"
                                + prompt.charAt(i)
                                + "' (U+"
                                + String.format("%04X", (int) prompt.charAt(i))
                                + "), which the model's vocabulary lacks");
            }
        }
        int length = 100;
        if (json.has("length")) {
            try {
                length = json.get("length").getAsInt();
            } catch (RuntimeException e) {
                throw new TranslateException(
                        "request: \"length\" must be an integer, got " + json.get("length"));
            }
        }
        if (length < 0 || length > MAX_LENGTH) {
            throw new TranslateException(
                    "request: \"length\" must be in [0, " + MAX_LENGTH + "], got " + length);
        }
        Long seed = null;
        if (json.has("seed") && !json.get("seed").isJsonNull()) {
            try {
                seed = json.get("seed").getAsLong();
            } catch (RuntimeException e) {
                throw new TranslateException(
                        "request: \"seed\" must be an integer, got " + json.get("seed"));
            }
        }
        return new Request(prompt, length, seed);
    }

    private static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
