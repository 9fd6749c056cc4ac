package io.github.sigmoidattention.serving;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.modality.Input;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.github.sigmoidattention.examples.lm.SavedCharModel;
import io.github.sigmoidattention.examples.serving.CharLmRequest;
import io.github.sigmoidattention.examples.serving.ServingPackage;
import io.github.sigmoidattention.examples.testing.TinyCharModel;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The serving package in a real DJL Serving 0.36.0: a tiny model is trained, packaged by {@link
 * ServingPackage} as the README says (with dynamic batching on), and served by {@code
 * ai.djl.serving.ModelServer} in its own process on 127.0.0.1, whose class path has none of this
 * project's jars. Answers are compared with the model's own greedy decoding, loaded directly.
 */
class DjlServingTest {

    private static final String MODEL = "char-lm";

    static Path savedModel;
    static DjlServingProcess server;

    @BeforeAll
    static void trainPackageAndStart() throws Exception {
        Path work = Paths.get(System.getProperty("serving.work", "target/serving-it"));
        savedModel = TinyCharModel.train(work.resolve("train"), 40);
        Path servingDir = work.resolve("char-lm");
        ServingPackage.main(
                new String[] {
                    savedModel.toString(),
                    servingDir.toString(),
                    "--batch-size",
                    "4",
                    "--max-batch-delay",
                    "50"
                });
        server = DjlServingProcess.start(work.resolve("server"), Map.of(MODEL, servingDir));
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void servesTheModelsOwnGreedyText() throws Exception {
        for (String prompt : List.of("ROMEO:\n", "First Citizen:\nBefore we", "O")) {
            JsonObject answer = ok(generate(prompt, 45));
            assertGreedy(prompt, 45, answer.get("generated_text").getAsString());
            assertEquals(prompt, answer.get("prompt").getAsString());
        }
    }

    /** The package as a .zip archive loads in a server of its own and serves the same text. */
    @Test
    void servesTheZipArchiveToo() throws Exception {
        Path work = Paths.get(System.getProperty("serving.work", "target/serving-it"));
        Path zip = work.resolve("char-lm.zip");
        ServingPackage.main(new String[] {savedModel.toString(), zip.toString()});
        try (DjlServingProcess zipServer =
                DjlServingProcess.start(work.resolve("zip-server"), Map.of(MODEL, zip))) {
            HttpResponse<String> response =
                    zipServer.predict(
                            MODEL, "application/json", "{\"prompt\": \"KING\", \"length\": 30}");
            assertEquals(200, response.statusCode(), response.body() + "\n" + zipServer.logTail());
            assertGreedy(
                    "KING",
                    30,
                    JsonParser.parseString(response.body())
                            .getAsJsonObject()
                            .get("generated_text")
                            .getAsString());
        }
    }

    /** "stream": true: the answer arrives as HTTP chunks and holds the model's own text. */
    @Test
    void streamedAnswersArriveInChunks() throws Exception {
        HttpResponse<String> response =
                server.predict(
                        MODEL,
                        "application/json",
                        "{\"prompt\": \"ROMEO:\\n\", \"length\": 50, \"stream\": true}");
        assertEquals(200, response.statusCode(), response.body());
        assertEquals(
                "chunked",
                response.headers().firstValue("transfer-encoding").orElse("(none)"),
                "streamed, not sent whole");
        assertGreedy("ROMEO:\n", 50, response.body());
    }

    /** Concurrent requests of different lengths are batched and each gets its own text. */
    @Test
    void batchedRequestsGetTheTextTheyGetAlone() throws Exception {
        String[] prompts = {
            "ROMEO:",
            "JULIET:\nO",
            "KING",
            "What say you, my lord",
            "A",
            "MENENIUS:\nI tell you",
            "O, ",
            "Second Citizen:\nWe"
        };
        int[] lengths = {40, 25, 10, 33, 60, 5, 48, 20};
        ExecutorService pool = Executors.newFixedThreadPool(prompts.length);
        try {
            List<Future<HttpResponse<String>>> answers = new ArrayList<>();
            for (int i = 0; i < prompts.length; i++) {
                int r = i;
                answers.add(pool.submit(() -> generate(prompts[r], lengths[r])));
            }
            for (int i = 0; i < prompts.length; i++) {
                assertGreedy(
                        prompts[i],
                        lengths[i],
                        ok(answers.get(i).get()).get("generated_text").getAsString());
            }
            assertTrue(
                    server.log().matches("(?s).*decoded [2-4] requests together.*"),
                    "some requests were decoded in one batch:\n" + server.logTail());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void badRequestsGetTheTranslatorsOwnMessageAnd400() throws Exception {
        String vocabulary = Files.readString(savedModel.resolve("vocabulary.txt"));
        List<String> bodies =
                List.of(
                        "not json",
                        "{\"prompt\": \"ROMEO\", \"length\": 1.5}",
                        "{\"prompt\": \"ROMEO\", \"length\": 4294967306}",
                        "{\"prompt\": \"ROMEO\", \"length\": 1e10}",
                        "{\"prompt\": \"RO\uD83D\uDE00MEO\"}",
                        "{\"prompt\": \"ROMEO\", \"lenght\": 3}",
                        "{\"prompt\": \"ROMEO\", \"seed\": 2.5}",
                        "{\"prompt\": \"" + "A".repeat(1_000_000) + "\"}");
        for (String body : bodies) {
            HttpResponse<String> response = server.predict(MODEL, "application/json", body);
            Input input = new Input();
            input.add(body);
            String expected =
                    assertThrows(
                                    CharLmRequest.BadRequestException.class,
                                    () -> CharLmRequest.parse(input, vocabulary))
                            .getMessage();
            assertEquals(400, response.statusCode(), response.body());
            assertEquals(expected, message(response), "the translator's own message");
            assertTrue(response.body().length() < 1000, "no echo of what was sent");
        }
        HttpResponse<String> form =
                server.predict(MODEL, "application/x-www-form-urlencoded", "prompt=ROMEO");
        assertEquals(400, form.statusCode(), form.body());
        assertTrue(message(form).contains("application/x-www-form-urlencoded"), form.body());
        assertTrue(message(bodies.get(4)).contains("U+1F600"), "whole code points");
        // After the refusals, a good request is served.
        assertEquals(12, ok(generate("ROMEO", 12)).get("generated_text").getAsString().length());
    }

    private static String message(String body) throws Exception {
        return message(server.predict(MODEL, "application/json", body));
    }

    private static String message(HttpResponse<String> response) {
        return JsonParser.parseString(response.body())
                .getAsJsonObject()
                .get("message")
                .getAsString();
    }

    private static HttpResponse<String> generate(String prompt, int length) throws Exception {
        JsonObject request = new JsonObject();
        request.addProperty("prompt", prompt);
        request.addProperty("length", length);
        return server.predict(MODEL, "application/json", request.toString());
    }

    private static JsonObject ok(HttpResponse<String> response) {
        assertEquals(200, response.statusCode(), response.body() + "\n" + server.logTail());
        return JsonParser.parseString(response.body()).getAsJsonObject();
    }

    /**
     * Asserts that the server's text is the model's greedy continuation of the prompt: the text
     * this JVM decodes, or, where the two processes' float rounding took different sides of a
     * near-tie, a text each of whose characters has a logit within 1e-4 of its step's largest.
     */
    private static void assertGreedy(String prompt, int length, String served) throws Exception {
        try (SavedCharModel saved = SavedCharModel.load(savedModel)) {
            String direct = saved.greedy(prompt, length);
            if (direct.equals(served)) {
                return;
            }
            assertEquals(length, served.length(), "served: " + served + "\ndirect: " + direct);
            float[] gaps = saved.greedyGaps(prompt, served);
            for (int i = 0; i < gaps.length; i++) {
                assertTrue(
                        gaps[i] <= 1e-4f,
                        "the served text leaves greedy decoding at character "
                                + i
                                + " (its logit "
                                + gaps[i]
                                + " below the largest)\nprompt: "
                                + prompt
                                + "\nserved: "
                                + served
                                + "\ndirect: "
                                + direct);
            }
        }
    }
}
