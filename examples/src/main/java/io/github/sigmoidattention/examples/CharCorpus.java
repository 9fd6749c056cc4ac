package io.github.sigmoidattention.examples;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** A text as a sequence of character ids, with its vocabulary (the distinct characters, sorted). */
public final class CharCorpus {

    /** Tiny Shakespeare (public domain), shipped inside this module. */
    public static final String TINY_SHAKESPEARE = "/data/tinyshakespeare.txt";

    private final char[] vocabulary;
    private final int[] ids;

    private CharCorpus(String text) {
        vocabulary =
                text.chars()
                        .distinct()
                        .sorted()
                        .collect(
                                StringBuilder::new,
                                StringBuilder::appendCodePoint,
                                StringBuilder::append)
                        .toString()
                        .toCharArray();
        ids = encode(text);
    }

    /**
     * Makes a corpus of a text; its vocabulary is the text's distinct characters.
     *
     * @param text the text (a vocabulary string gives a corpus with exactly that vocabulary)
     * @return the corpus
     */
    public static CharCorpus fromText(String text) {
        if (text == null || text.isEmpty()) {
            throw new IllegalArgumentException("text: must not be empty");
        }
        return new CharCorpus(text);
    }

    /**
     * Returns the vocabulary as one string of its characters, in id order.
     *
     * @return the characters
     */
    public String vocabulary() {
        return new String(vocabulary);
    }

    /**
     * Reads a UTF-8 text from the class path.
     *
     * @param resource the resource path, such as {@link #TINY_SHAKESPEARE}
     * @return the corpus
     */
    public static CharCorpus fromResource(String resource) {
        try (InputStream in = CharCorpus.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalArgumentException("resource: not on the class path: " + resource);
            }
            return new CharCorpus(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Returns the number of distinct characters.
     *
     * @return the vocabulary size
     */
    public int vocabularySize() {
        return vocabulary.length;
    }

    /**
     * Returns the whole text as ids.
     *
     * @return the ids (not a copy)
     */
    public int[] ids() {
        return ids;
    }

    /**
     * Maps characters to ids.
     *
     * @param text characters of the vocabulary
     * @return one id per character
     */
    public int[] encode(String text) {
        return encode(text, "text");
    }

    /**
     * Maps characters to ids, naming the argument they came from when one is not in the vocabulary.
     *
     * @param text characters of the vocabulary
     * @param argument the name the exception gives the text
     * @return one id per character
     */
    public int[] encode(String text, String argument) {
        int[] out = new int[text.length()];
        for (int i = 0; i < out.length; i++) {
            int id = Arrays.binarySearch(vocabulary, text.charAt(i));
            if (id < 0) {
                throw new IllegalArgumentException(
                        argument + ": character '" + text.charAt(i) + "' is not in the vocabulary");
            }
            out[i] = id;
        }
        return out;
    }

    /**
     * Maps ids to characters.
     *
     * @param id an id in [0, vocabularySize)
     * @return the character
     */
    public char decode(int id) {
        return vocabulary[id];
    }
}
