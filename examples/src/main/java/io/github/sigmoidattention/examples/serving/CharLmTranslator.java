package io.github.sigmoidattention.examples.serving;

import ai.djl.inference.streaming.ChunkedBytesSupplier;
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
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
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
 * batched with it. With {@code "stream": true} the answer is plain text that grows by each
 * character as it is decoded (HTTP chunks), decoded on the translator's own {@value
 * #STREAM_THREADS} threads rather than in the batch.
 */
public final class CharLmTranslator implements Translator<Input, Output> {

    private static final Logger logger = LoggerFactory.getLogger(CharLmTranslator.class);

    private static final String REQUESTS = "char-lm.requests";

    /** Quotes stay quotes in messages (DJL's shared Gson escapes them for HTML). */
    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();

    /** Streams decoded at once; more wait in a queue of {@link #STREAM_QUEUE}. */
    static final int STREAM_THREADS = 2;

    static final int STREAM_QUEUE = 64;

    private final CharCorpus vocabulary;
    private final int contextLength;
    private final ExecutorService streams =
            new ThreadPoolExecutor(
                    STREAM_THREADS,
                    STREAM_THREADS,
                    0L,
                    TimeUnit.MILLISECONDS,
                    new ArrayBlockingQueue<>(STREAM_QUEUE),
                    r -> {
                        Thread t = new Thread(r, "char-lm-stream");
                        t.setDaemon(true);
                        return t;
                    });

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
                if (!request.stream()) {
                    contexts.add(tail(request.prompt()));
                }
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
            if (p instanceof CharLmRequest request && !request.stream()) {
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
            if (p instanceof CharLmRequest request && request.stream()) {
                outputs.add(stream(ctx, request));
            } else if (p instanceof CharLmRequest request) {
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

    /**
     * Answers at once with a body that the characters fill as they are decoded, on a thread of this
     * translator's (DJL Serving sends each as a chunk of the HTTP response).
     */
    private Output stream(TranslatorContext ctx, CharLmRequest request) {
        ChunkedBytesSupplier body = new ChunkedBytesSupplier();
        TextGenerator generator = generator(ctx);
        NDManager modelManager = ctx.getModel().getNDManager();
        Runnable decode =
                () -> {
                    try (NDManager manager = modelManager.newSubManager()) {
                        generator.generate(
                                manager,
                                request.prompt(),
                                request.length(),
                                request.seed() == null ? null : new Random(request.seed()),
                                null,
                                c ->
                                        body.appendContent(
                                                String.valueOf(c).getBytes(StandardCharsets.UTF_8),
                                                false));
                    } catch (RuntimeException e) {
                        logger.warn("streamed generation failed", e);
                        body.appendContent(
                                ("\n[generation failed: " + e.getMessage() + "]")
                                        .getBytes(StandardCharsets.UTF_8),
                                false);
                    } finally {
                        // Empty, and last: DJL marks the stream complete before it queues the
                        // last chunk, so a reader may miss it; nothing is lost if it is empty.
                        body.appendContent(new byte[0], true);
                    }
                };
        try {
            streams.execute(decode);
        } catch (RejectedExecutionException e) {
            Map<String, Object> error = new LinkedHashMap<>();
            error.put("code", 503);
            error.put("type", "ServiceUnavailable");
            error.put(
                    "message",
                    "request: "
                            + STREAM_QUEUE
                            + " streams are waiting already; try again, or without \"stream\"");
            return json(503, "Service Unavailable", error);
        }
        Output output = new Output(200, "OK");
        output.addProperty("Content-Type", "text/plain; charset=utf-8");
        output.add(body);
        return output;
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
