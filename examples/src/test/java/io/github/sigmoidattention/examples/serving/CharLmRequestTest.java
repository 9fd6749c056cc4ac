package io.github.sigmoidattention.examples.serving;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.modality.Input;
import org.junit.jupiter.api.Test;

/** Strict reading of generation requests: what is sent is what is used, or it is refused. */
class CharLmRequestTest {

    private static final String VOCABULARY =
            " !ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz:\n";

    private static CharLmRequest parse(String body) throws Exception {
        Input input = new Input();
        input.add(body);
        return CharLmRequest.parse(input, VOCABULARY);
    }

    private static String refusal(String body) {
        return assertThrows(CharLmRequest.BadRequestException.class, () -> parse(body))
                .getMessage();
    }

    @Test
    void goodRequestsAreReadExactly() throws Exception {
        CharLmRequest r =
                parse("{\"prompt\": \"ROMEO:\", \"length\": 12, \"seed\": -9007199254740993}");
        assertEquals("ROMEO:", r.prompt());
        assertEquals(12, r.length());
        assertEquals(-9007199254740993L, r.seed(), "a seed beyond a double's 53 bits stays exact");
        CharLmRequest defaults = parse("{\"prompt\": \"A\"}");
        assertEquals(CharLmRequest.DEFAULT_LENGTH, defaults.length());
        assertNull(defaults.seed());
        assertEquals(2000, parse("{\"prompt\": \"A\", \"length\": 2.0e3}").length());
        assertTrue(parse("{\"prompt\": \"A\", \"stream\": true}").stream());
        assertEquals(
                "request: \"stream\" must be true or false, got '\"yes\"'",
                refusal("{\"prompt\": \"A\", \"stream\": \"yes\"}"));
    }

    @Test
    void integersAreNeitherTruncatedNorWrapped() {
        assertEquals(
                "request: \"length\" must be a whole number, got '1.5'",
                refusal("{\"prompt\": \"A\", \"length\": 1.5}"));
        assertEquals(
                "request: \"length\" must be in [0, 2000], got '4294967306'",
                refusal("{\"prompt\": \"A\", \"length\": 4294967306}"));
        assertEquals(
                "request: \"length\" must be in [0, 2000], got '1e10'",
                refusal("{\"prompt\": \"A\", \"length\": 1e10}"));
        assertEquals(
                "request: \"length\" must be a JSON integer, got '\"10\"'",
                refusal("{\"prompt\": \"A\", \"length\": \"10\"}"));
        assertEquals(
                "request: \"seed\" must be a 64-bit integer, got '9223372036854775808'",
                refusal("{\"prompt\": \"A\", \"seed\": 9223372036854775808}"));
    }

    @Test
    void charactersAreWholeCodePointsAndHugeInputIsNotEchoed() {
        assertEquals(
                "request: \"prompt\" has the character '\uD83D\uDE00' (U+1F600) at index 2, which"
                        + " the model's vocabulary lacks",
                refusal("{\"prompt\": \"AB\uD83D\uDE00C\"}"));
        assertEquals(
                "request: \"prompt\" has the character U+0007 at index 0, which the model's"
                        + " vocabulary lacks",
                refusal("{\"prompt\": \"\\u0007\"}"));
        String huge = refusal("{\"prompt\": \"" + "A".repeat(1_000_000) + "\"}");
        assertEquals("request: \"prompt\" has 1,000,000 characters; the limit is 8,192", huge);
        String notJson = refusal("x".repeat(5000));
        assertTrue(notJson.length() < 300 && notJson.contains("(5,000 characters)"), notJson);
    }

    @Test
    void shapeErrorsNameTheFieldAndTheContentType() {
        Input form = new Input();
        form.add("prompt", "ROMEO");
        form.addProperty("Content-Type", "application/x-www-form-urlencoded");
        String message =
                assertThrows(
                                CharLmRequest.BadRequestException.class,
                                () -> CharLmRequest.parse(form, VOCABULARY))
                        .getMessage();
        assertTrue(message.contains("Content-Type: application/x-www-form-urlencoded"), message);
        assertEquals(
                "request: unknown field 'lenght' (known: prompt, length, seed, stream)",
                refusal("{\"prompt\": \"A\", \"lenght\": 3}"));
        assertEquals("request: \"prompt\" must be a string, got '5'", refusal("{\"prompt\": 5}"));
        assertEquals("request: \"prompt\" (a string) is missing", refusal("{\"length\": 5}"));
        assertTrue(refusal("").startsWith("request: the body is empty"));
        assertTrue(refusal("[1, 2]").contains("must be a JSON object"));
    }
}
