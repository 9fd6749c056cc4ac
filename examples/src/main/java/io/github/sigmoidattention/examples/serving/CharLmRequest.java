package io.github.sigmoidattention.examples.serving;

import ai.djl.modality.Input;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.math.BigDecimal;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * One generation request as {@link CharLmTranslator} reads it: the JSON body {@code {"prompt":
 * "ROMEO:", "length": 100, "seed": 7}}, checked strictly. Integers must be JSON numbers with no
 * fraction and in range (nothing is truncated or wrapped); characters are reported as whole code
 * points; the prompt is limited to {@link #MAX_PROMPT_LENGTH} characters, and messages quote at
 * most {@value #QUOTED} characters of what was sent.
 *
 * @param prompt the text to continue
 * @param length how many characters to add
 * @param seed the sampling seed, or null for greedy decoding
 * @param stream whether the answer streams the characters as they are decoded (plain text)
 */
public record CharLmRequest(String prompt, int length, Long seed, boolean stream) {

    /** The most characters a request may ask for. */
    public static final int MAX_LENGTH = 2000;

    /** The longest prompt accepted, in characters (the model reads only its last n). */
    public static final int MAX_PROMPT_LENGTH = 8192;

    /** The length when the request gives none. */
    public static final int DEFAULT_LENGTH = 100;

    private static final int QUOTED = 60;
    private static final Set<String> FIELDS = Set.of("prompt", "length", "seed", "stream");
    private static final String EXAMPLE = "{\"prompt\": \"ROMEO:\", \"length\": 100}";

    /** A request refused, with the reason the client sees. */
    public static final class BadRequestException extends Exception {
        private static final long serialVersionUID = 1L;

        BadRequestException(String message) {
            super(message);
        }
    }

    /**
     * Reads and checks a request.
     *
     * @param input the request as DJL Serving passes it
     * @param vocabulary the characters the model knows
     * @return the request
     * @throws BadRequestException with a message naming the field and the value
     */
    public static CharLmRequest parse(Input input, String vocabulary) throws BadRequestException {
        String text = input.getData() == null ? "" : input.getData().getAsString();
        if (text.isBlank()) {
            throw new BadRequestException(
                    "request: the body is empty; send JSON like " + EXAMPLE + contentType(input));
        }
        JsonObject json;
        try {
            JsonElement element = JsonParser.parseString(text);
            if (!element.isJsonObject()) {
                throw new JsonParseException("not an object");
            }
            json = element.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new BadRequestException(
                    "request: the body must be a JSON object like "
                            + EXAMPLE
                            + ", got "
                            + quote(text)
                            + contentType(input));
        }
        for (String field : json.keySet()) {
            if (!FIELDS.contains(field)) {
                throw new BadRequestException(
                        "request: unknown field "
                                + quote(field)
                                + " (known: prompt, length, seed, stream)");
            }
        }
        JsonElement promptJson = json.get("prompt");
        if (promptJson == null || promptJson.isJsonNull()) {
            throw new BadRequestException("request: \"prompt\" (a string) is missing");
        }
        if (!(promptJson.isJsonPrimitive() && promptJson.getAsJsonPrimitive().isString())) {
            throw new BadRequestException(
                    "request: \"prompt\" must be a string, got " + quote(promptJson.toString()));
        }
        String prompt = promptJson.getAsString();
        checkPrompt(prompt, vocabulary);
        int length = DEFAULT_LENGTH;
        if (json.has("length") && !json.get("length").isJsonNull()) {
            length = (int) integer("length", json.get("length"), 0, MAX_LENGTH);
        }
        Long seed = null;
        if (json.has("seed") && !json.get("seed").isJsonNull()) {
            seed = integer("seed", json.get("seed"), Long.MIN_VALUE, Long.MAX_VALUE);
        }
        boolean stream = false;
        JsonElement streamJson = json.get("stream");
        if (streamJson != null && !streamJson.isJsonNull()) {
            if (!(streamJson.isJsonPrimitive() && streamJson.getAsJsonPrimitive().isBoolean())) {
                throw new BadRequestException(
                        "request: \"stream\" must be true or false, got "
                                + quote(streamJson.toString()));
            }
            stream = streamJson.getAsBoolean();
        }
        return new CharLmRequest(prompt, length, seed, stream);
    }

    private static void checkPrompt(String prompt, String vocabulary) throws BadRequestException {
        if (prompt.isEmpty()) {
            throw new BadRequestException("request: \"prompt\" must not be empty");
        }
        int characters = prompt.codePointCount(0, prompt.length());
        if (characters > MAX_PROMPT_LENGTH) {
            throw new BadRequestException(
                    String.format(
                            Locale.ROOT,
                            "request: \"prompt\" has %,d characters; the limit is %,d",
                            characters,
                            MAX_PROMPT_LENGTH));
        }
        int index = 0;
        for (int i = 0; i < prompt.length(); index++) {
            int c = prompt.codePointAt(i);
            if (vocabulary.indexOf(c) < 0) {
                throw new BadRequestException(
                        "request: \"prompt\" has the character "
                                + describe(c)
                                + " at index "
                                + index
                                + ", which the model's vocabulary lacks");
            }
            i += Character.charCount(c);
        }
    }

    /** A JSON integer in [min, max]: no fraction, no rounding, no wrap-around. */
    private static long integer(String field, JsonElement value, long min, long max)
            throws BadRequestException {
        String sent = value.toString();
        if (!(value.isJsonPrimitive() && value.getAsJsonPrimitive().isNumber())) {
            throw new BadRequestException(
                    "request: \"" + field + "\" must be a JSON integer, got " + quote(sent));
        }
        BigDecimal number;
        try {
            number = new BigDecimal(((JsonPrimitive) value).getAsString());
        } catch (NumberFormatException e) {
            throw new BadRequestException(
                    "request: \"" + field + "\" must be a JSON integer, got " + quote(sent));
        }
        if (number.signum() != 0 && number.stripTrailingZeros().scale() > 0) {
            throw new BadRequestException(
                    "request: \"" + field + "\" must be a whole number, got " + quote(sent));
        }
        if (number.compareTo(BigDecimal.valueOf(min)) < 0
                || number.compareTo(BigDecimal.valueOf(max)) > 0) {
            String range =
                    min == Long.MIN_VALUE ? "a 64-bit integer" : "in [" + min + ", " + max + "]";
            throw new BadRequestException(
                    "request: \"" + field + "\" must be " + range + ", got " + quote(sent));
        }
        return number.longValueExact();
    }

    /** A code point as 'c' (U+XXXX), or only U+XXXX where it would not print. */
    static String describe(int c) {
        String code = String.format(Locale.ROOT, "U+%04X", c);
        boolean printable =
                !Character.isISOControl(c)
                        && Character.isDefined(c)
                        && Character.getType(c) != Character.FORMAT
                        && Character.getType(c) != Character.SURROGATE;
        return printable ? "'" + new String(Character.toChars(c)) + "' (" + code + ")" : code;
    }

    /** At most QUOTED characters of what was sent (whole code points), in quotes. */
    static String quote(String sent) {
        int characters = sent.codePointCount(0, sent.length());
        if (characters <= QUOTED) {
            return "'" + sent + "'";
        }
        int end = sent.offsetByCodePoints(0, QUOTED);
        return String.format(
                Locale.ROOT, "'%s…' (%,d characters)", sent.substring(0, end), characters);
    }

    private static String contentType(Input input) {
        for (Map.Entry<String, String> e : input.getProperties().entrySet()) {
            if ("content-type".equalsIgnoreCase(e.getKey())
                    && !e.getValue().toLowerCase(Locale.ROOT).contains("json")) {
                return " (Content-Type: " + e.getValue() + "; send application/json)";
            }
        }
        return "";
    }
}
