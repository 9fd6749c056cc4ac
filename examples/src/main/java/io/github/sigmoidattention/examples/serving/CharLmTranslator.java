package io.github.sigmoidattention.examples.serving;

import ai.djl.modality.Input;
import ai.djl.modality.Output;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.translate.Batchifier;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorContext;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import io.github.sigmoidattention.examples.CharCorpus;
import io.github.sigmoidattention.examples.lm.TextGenerator;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Text generation over DJL Serving's {@link Input}/{@link Output}: JSON in ({@link CharLmRequest}),
 * JSON out, {@code {"generated_text": "...", "prompt": "...", "length": 100}}.
 *
 * <p>Batches of requests (DJL Serving's {@code batch_size} and {@code max_batch_delay}) are decoded
 * together: the prompts, of any lengths, are left-padded into one batch and share one KV cache, and
 * every request gets the text it would get alone. A bad request is answered with status 400 and
 * {@code {"code": 400, "type": "BadRequest", "message": "..."}} without failing the requests
 * batched with it.
 */
public final class CharLmTranslator implements Translator<Input, Output> {

    private static final Logger logger = LoggerFactory.getLogger(CharLmTranslator.class);

    private static final String REQUESTS = "char-lm.requests";

    /** Quotes stay quotes in messages (DJL's shared Gson escapes them for HTML). */
    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();

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

    /** Non-null so that DJL hands over whole batches; the batch methods below do the work. */
    @Override
    public Batchifier getBatchifier() {
        return Batchifier.STACK;
    }

    @Override
    public NDList processInput(TranslatorContext ctx, Input input) {
        return batchProcessInput(ctx, List.of(input));
    }

    @Override
    public Output processOutput(TranslatorContext ctx, NDList list) {
        return batchProcessOutput(ctx, list).get(0);
    }

    /**
     * Parses every request and gives the predictor the valid prompts' last n characters,
     * left-padded: {@code [ids, mask]} (one row, unpadded, for models without a KV cache).
     */
    @Override
    public NDList batchProcessInput(TranslatorContext ctx, List<Input> inputs) {
        List<Object> parsed = new ArrayList<>(inputs.size());
        List<String> contexts = new ArrayList<>();
        for (Input input : inputs) {
            try {
                CharLmRequest request = CharLmRequest.parse(input, vocabulary.vocabulary());
                parsed.add(request);
                contexts.add(tail(request.prompt()));
            } catch (CharLmRequest.BadRequestException e) {
                parsed.add(e);
            }
        }
        ctx.setAttachment(REQUESTS, parsed);
        if (contexts.isEmpty()) {
            // Nothing valid: the predictor still runs its forward pass, on one character.
            contexts.add(vocabulary.vocabulary().substring(0, 1));
        }
        NDManager manager = ctx.getNDManager();
        TextGenerator generator = generator(ctx);
        if (!generator.usesKvCache()) {
            return new NDList(generator.paddedBatch(manager, contexts.subList(0, 1)).get(0));
        }
        return generator.paddedBatch(manager, contexts);
    }

    @Override
    @SuppressWarnings("unchecked")
    public List<Output> batchProcessOutput(TranslatorContext ctx, NDList list) {
        List<Object> parsed = (List<Object>) ctx.getAttachment(REQUESTS);
        List<String> prompts = new ArrayList<>();
        List<Integer> lengths = new ArrayList<>();
        List<Random> randoms = new ArrayList<>();
        for (Object p : parsed) {
            if (p instanceof CharLmRequest request) {
                prompts.add(request.prompt());
                lengths.add(request.length());
                randoms.add(request.seed() == null ? null : new Random(request.seed()));
            }
        }
        List<String> texts = List.of();
        if (!prompts.isEmpty()) {
            NDArray logits = list.singletonOrThrow();
            texts =
                    generator(ctx)
                            .generateBatch(
                                    ctx.getNDManager(),
                                    prompts,
                                    lengths.stream().mapToInt(Integer::intValue).toArray(),
                                    randoms.toArray(new Random[0]),
                                    logits);
        }
        logger.debug(
                "decoded {} requests together ({} refused)",
                prompts.size(),
                parsed.size() - prompts.size());
        List<Output> outputs = new ArrayList<>(parsed.size());
        int next = 0;
        for (Object p : parsed) {
            if (p instanceof CharLmRequest request) {
                String text = texts.get(next++);
                Map<String, Object> body = new LinkedHashMap<>();
                body.put("generated_text", text.substring(request.prompt().length()));
                body.put("prompt", request.prompt());
                body.put("length", request.length());
                outputs.add(json(200, "OK", body));
            } else {
                Map<String, Object> body = new LinkedHashMap<>();
                body.put("code", 400);
                body.put("type", "BadRequest");
                body.put("message", ((Exception) p).getMessage());
                outputs.add(json(400, "Bad Request", body));
            }
        }
        return outputs;
    }

    private TextGenerator generator(TranslatorContext ctx) {
        return new TextGenerator(ctx.getBlock(), vocabulary, contextLength);
    }

    private String tail(String prompt) {
        return prompt.substring(Math.max(0, prompt.length() - contextLength));
    }

    private static Output json(int code, String message, Map<String, Object> body) {
        Output output = new Output(code, message);
        output.addProperty("Content-Type", "application/json");
        output.add(GSON.toJson(body));
        return output;
    }
}
