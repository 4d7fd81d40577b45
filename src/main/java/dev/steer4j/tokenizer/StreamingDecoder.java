package dev.steer4j.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Decodes a stream of token ids a token at a time, in time proportional to the new bytes: what it has returned,
 * joined, is always a prefix of {@link GPT2Tokenizer#decode} of all the ids so far, and {@link #flush} returns the
 * rest. GPT-2 tokens are bytes, not characters: a character's UTF-8 bytes may come over several tokens, so the
 * bytes of a character still incomplete are held back until they are whole (or turn out not to be UTF-8).
 */
public final class StreamingDecoder {
    private final GPT2Tokenizer tokenizer;
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

    StreamingDecoder(GPT2Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** The text that token {@code id} completes; empty while a character's bytes are still coming. */
    public String next(int id) {
        pending.writeBytes(tokenizer.bytes(id));
        byte[] b = pending.toByteArray();
        int cut = completeUpTo(b);
        pending.reset();
        pending.write(b, cut, b.length - cut);
        return new String(b, 0, cut, StandardCharsets.UTF_8);
    }

    /** The bytes held back, decoded (malformed ones as U+FFFD); the decoder is then empty. */
    public String flush() {
        String rest = pending.toString(StandardCharsets.UTF_8);
        pending.reset();
        return rest;
    }

    /**
     * The length of the longest prefix after which a UTF-8 decoder starts afresh: all of {@code b} unless it ends in
     * the lead byte of a multi-byte character followed by fewer continuation bytes than that character needs.
     */
    static int completeUpTo(byte[] b) {
        for (int i = b.length - 1; i >= Math.max(0, b.length - 4); i--) {
            int v = b[i] & 0xFF;
            if ((v & 0xC0) == 0x80) continue; // a continuation byte: its lead is further back
            int needs = v >= 0xF0 && v <= 0xF7 ? 4 : v >= 0xE0 ? 3 : v >= 0xC0 ? 2 : 1;
            return v >= 0xF8 || i + needs <= b.length ? b.length : i;
        }
        return b.length;
    }
}
