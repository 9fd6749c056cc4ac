package io.github.sigmoidattention.examples.serving;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.inference.Predictor;
import ai.djl.inference.streaming.ChunkedBytesSupplier;
import ai.djl.modality.Input;
import ai.djl.modality.Output;
import ai.djl.ndarray.NDManager;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.ServingTranslatorFactory;
import ai.djl.translate.TranslateException;
import ai.djl.util.JsonUtils;
import com.google.gson.JsonObject;
import io.github.sigmoidattention.examples.lm.SavedCharModel;
import io.github.sigmoidattention.examples.lm.TextGenerator;
import io.github.sigmoidattention.examples.testing.TinyCharModel;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Loads a serving directory through the API path DJL Serving uses (Criteria on the directory,
 * serving.properties, ServingTranslatorFactory, Input/Output) and checks real predictions.
 */
class ServingPackageTest {

    @TempDir static Path work;
    static Path servingDir;
    static Path savedModel;

    @BeforeAll
    static void trainAndPackage() throws Exception {
        savedModel = TinyCharModel.train(work.resolve("train"), 20);
        servingDir = ServingPackage.write(savedModel, work.resolve("serving"));
    }

    private static ZooModel<Input, Output> load() throws Exception {
        return Criteria.builder()
                .setTypes(Input.class, Output.class)
                .optModelPath(servingDir)
                .optTranslatorFactory(new ServingTranslatorFactory())
                .build()
                .loadModel();
    }

    private static Input request(String json) {
        Input input = new Input();
        input.add(json.getBytes(StandardCharsets.UTF_8));
        return input;
    }

    private static JsonObject predict(Predictor<Input, Output> predictor, String json)
            throws TranslateException {
        Output output = predictor.predict(request(json));
        return JsonUtils.GSON.fromJson(output.getData().getAsString(), JsonObject.class);
    }

    /**
     * Greedy gaps: zero along the greedy text, positive at a character taken off it (the same with
     * and without the KV cache), zero again before it.
     */
    @Test
    void greedyGapsAreZeroOnlyAlongTheGreedyText() throws Exception {
        String prompt = "ROMEO:";
        try (SavedCharModel saved = SavedCharModel.load(savedModel);
                NDManager manager = NDManager.newBaseManager()) {
            String greedy = saved.greedy(prompt, 40);
            for (float gap : saved.greedyGaps(prompt, greedy)) {
                assertEquals(0f, gap, greedy);
            }
            int changed = 12;
            int id = saved.vocabulary().encode(greedy.substring(changed, changed + 1))[0];
            char other = saved.vocabulary().decode((id + 1) % saved.vocabulary().vocabularySize());
            String off = greedy.substring(0, changed) + other + greedy.substring(changed + 1);
            float[] cached = saved.greedyGaps(prompt, off);
            float[] recomputed = saved.generator(false).greedyGaps(manager, prompt, off);
            for (int i = 0; i < changed; i++) {
                assertEquals(0f, cached[i], "before the change, step " + i);
            }
            assertTrue(cached[changed] > 1e-3f, "gap of the changed character: " + cached[changed]);
            assertEquals(cached[changed], recomputed[changed], 1e-4f, "cached vs recomputed");
            IllegalArgumentException unknown =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> saved.greedyGaps(prompt, greedy.substring(0, 3) + "\u00e9"));
            assertEquals(
                    "continuation: character '\u00e9' is not in the vocabulary",
                    unknown.getMessage());
        }
    }

    /** Greedy text from the saved model, loaded directly with DJL (not through serving). */
    private static String direct(String prompt, int length) throws Exception {
        try (SavedCharModel saved = SavedCharModel.load(savedModel)) {
            return saved.greedy(prompt, length);
        }
    }

    /** Greedy text from the saved model, with or without the KV cache. */
    private static String direct(String prompt, int length, boolean kvCache) throws Exception {
        try (SavedCharModel saved = SavedCharModel.load(savedModel);
                NDManager manager = NDManager.newBaseManager()) {
            TextGenerator generator = saved.generator(kvCache);
            assertEquals(kvCache, generator.usesKvCache());
            return generator.generate(manager, prompt, length, null).substring(prompt.length());
        }
    }

    /**
     * Prompts of different lengths decoded as one left-padded batch (greedy and seeded sampling,
     * across context-window jumps) give what each gives alone.
     */
    @Test
    void batchedDecodingGivesEachPromptItsOwnText() throws Exception {
        List<String> prompts =
                List.of("ROMEO:", "O", "First Citizen:\nBefore we proceed any further", "KING");
        int[] lengths = {90, 7, 64, 0};
        long[] seeds = {-1, 3, -1, 11};
        try (SavedCharModel saved = SavedCharModel.load(savedModel);
                NDManager manager = NDManager.newBaseManager()) {
            TextGenerator generator = saved.generator(true);
            Random[] randoms = new Random[prompts.size()];
            for (int i = 0; i < randoms.length; i++) {
                randoms[i] = seeds[i] < 0 ? null : new Random(seeds[i]);
            }
            List<String> batched =
                    generator.generateBatch(manager, prompts, lengths, randoms, null);
            for (int i = 0; i < prompts.size(); i++) {
                Random alone = seeds[i] < 0 ? null : new Random(seeds[i]);
                assertEquals(
                        generator.generate(manager, prompts.get(i), lengths[i], alone),
                        batched.get(i),
                        prompts.get(i));
            }
        }
    }

    /** The served (cached) generation equals full recomputation, across context-window jumps. */
    @Test
    void cachedDecodingGivesTheTokensOfFullRecomputation() throws Exception {
        String prompt = "ROMEO:";
        assertEquals(direct(prompt, 150, false), direct(prompt, 150, true));
    }

    @Test
    void servesTheSameTextAsTheModelItself() throws Exception {
        Properties serving = new Properties();
        try (Reader r = Files.newBufferedReader(servingDir.resolve("serving.properties"))) {
            serving.load(r);
        }
        assertEquals("PyTorch", serving.getProperty("engine"));
        assertEquals(CharLmBlockFactory.class.getName(), serving.getProperty("blockFactory"));
        try (ZooModel<Input, Output> model = load();
                Predictor<Input, Output> predictor = model.newPredictor()) {
            JsonObject out = predict(predictor, "{\"prompt\": \"ROMEO:\\nWhat\", \"length\": 48}");
            String text = out.get("generated_text").getAsString();
            assertEquals(48, text.length());
            assertEquals(
                    direct("ROMEO:\nWhat", 48),
                    text,
                    "greedy decoding through serving vs directly");
            // Sampling is seeded: the same seed gives the same text.
            String a =
                    predict(predictor, "{\"prompt\": \"KING\", \"length\": 30, \"seed\": 5}")
                            .get("generated_text")
                            .getAsString();
            String b =
                    predict(predictor, "{\"prompt\": \"KING\", \"length\": 30, \"seed\": 5}")
                            .get("generated_text")
                            .getAsString();
            assertEquals(a, b);
        }
    }

    /** "stream": true answers at once and sends the greedy text character by character. */
    @Test
    void streamedAnswersGrowByCharacter() throws Exception {
        try (ZooModel<Input, Output> model = load();
                Predictor<Input, Output> predictor = model.newPredictor()) {
            Output output =
                    predictor.predict(
                            request("{\"prompt\": \"ROMEO:\", \"length\": 40, \"stream\": true}"));
            assertEquals(200, output.getCode());
            assertEquals("text/plain; charset=utf-8", output.getProperty("Content-Type", null));
            ChunkedBytesSupplier body = (ChunkedBytesSupplier) output.getData();
            StringBuilder text = new StringBuilder();
            int chunks = 0;
            while (body.hasNext()) {
                byte[] chunk = body.nextChunk(30, TimeUnit.SECONDS);
                text.append(new String(chunk, StandardCharsets.UTF_8));
                chunks += chunk.length > 0 ? 1 : 0;
            }
            assertEquals(direct("ROMEO:", 40), text.toString());
            assertEquals(40, chunks, "one chunk per character");
        }
    }

    @Test
    void concurrentPredictorsGiveTheSequentialResults() throws Exception {
        String[] prompts = {
            "ROMEO:", "JULIET:\n", "First Citizen:", "KING HENRY", "O, ", "What say"
        };
        try (ZooModel<Input, Output> model = load()) {
            List<String> sequential = new ArrayList<>();
            try (Predictor<Input, Output> predictor = model.newPredictor()) {
                for (String p : prompts) {
                    sequential.add(predict(predictor, json(p)).get("generated_text").getAsString());
                }
            }
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<List<String>>> futures = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    futures.add(
                            pool.submit(
                                    () -> {
                                        List<String> out = new ArrayList<>();
                                        try (Predictor<Input, Output> predictor =
                                                model.newPredictor()) {
                                            for (int repeat = 0; repeat < 2; repeat++) {
                                                for (String p : prompts) {
                                                    out.add(
                                                            predict(predictor, json(p))
                                                                    .get("generated_text")
                                                                    .getAsString());
                                                }
                                            }
                                        }
                                        return out;
                                    }));
                }
                for (Future<List<String>> f : futures) {
                    List<String> got = f.get();
                    for (int i = 0; i < got.size(); i++) {
                        assertEquals(
                                sequential.get(i % prompts.length),
                                got.get(i),
                                "prompt " + prompts[i % prompts.length]);
                    }
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    private static String json(String prompt) {
        JsonObject o = new JsonObject();
        o.addProperty("prompt", prompt);
        o.addProperty("length", 24);
        return o.toString();
    }

    @Test
    void badRequestsAreRefusedWithTheirReason() throws Exception {
        try (ZooModel<Input, Output> model = load();
                Predictor<Input, Output> predictor = model.newPredictor()) {
            assertReason(predictor, "not json", "must be a JSON object");
            assertReason(predictor, "{\"length\": 5}", "\"prompt\"");
            assertReason(predictor, "{\"prompt\": \"\"}", "must not be empty");
            assertReason(predictor, "{\"prompt\": \"héllo\"}", "U+00E9");
            assertReason(
                    predictor,
                    "{\"prompt\": \"ROMEO\", \"length\": 999999}",
                    "\"length\" must be in");
            assertReason(
                    predictor,
                    "{\"prompt\": \"ROMEO\", \"length\": \"ten\"}",
                    "must be a JSON integer");
            // The predictor still works after refusals.
            assertEquals(
                    3,
                    predict(predictor, "{\"prompt\": \"ROMEO\", \"length\": 3}")
                            .get("generated_text")
                            .getAsString()
                            .length());
        }
    }

    private static void assertReason(Predictor<Input, Output> predictor, String body, String reason)
            throws Exception {
        Output output = predictor.predict(request(body));
        assertEquals(400, output.getCode(), body);
        String message =
                JsonUtils.GSON
                        .fromJson(output.getData().getAsString(), JsonObject.class)
                        .get("message")
                        .getAsString();
        assertTrue(message.contains(reason), "expected '" + reason + "' in: " + message);
    }
}
