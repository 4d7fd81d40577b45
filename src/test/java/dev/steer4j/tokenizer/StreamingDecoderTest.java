package dev.steer4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Streamed text against {@link GPT2Tokenizer#decode} of the whole: the same text, never a character early. */
class StreamingDecoderTest {
    private static GPT2Tokenizer tok;

    @BeforeAll
    static void load() throws IOException {
        tok = GPT2Tokenizer.fromFiles(resource("vocab.json"), resource("merges.txt"));
    }

    @Test
    void theReferenceCasesStreamAsTheyDecode() throws IOException {
        JsonNode cases = new ObjectMapper().readTree(resource("tokenizer_cases.json"));
        for (JsonNode c : cases) {
            int[] ids = new int[c.get("ids").size()];
            for (int i = 0; i < ids.length; i++) ids[i] = c.get("ids").get(i).asInt();
            assertStreamsAsItDecodes(ids);
        }
    }

    @Test
    void randomTokensIncludingBrokenUtf8StreamAsTheyDecode() {
        Random rnd = new Random(7);
        // the byte tokens (ids 0-255 are GPT-2's single bytes) make split and malformed characters common
        for (int n = 0; n < 2000; n++) {
            int[] ids = new int[1 + rnd.nextInt(12)];
            for (int i = 0; i < ids.length; i++) ids[i] = rnd.nextBoolean() ? rnd.nextInt(256) : rnd.nextInt(tok.vocabSize() - 1);
            assertStreamsAsItDecodes(ids);
        }
    }

    @Test
    void aCharacterSplitOverTokensComesWhenItsLastByteDoes() {
        int[] ids = tok.encode("é😀"); // byte-level: é is 2 bytes, 😀 is 4, over several tokens
        StreamingDecoder d = tok.streamingDecoder();
        StringBuilder seen = new StringBuilder();
        for (int id : ids) {
            String part = d.next(id);
            assertTrue(part.indexOf('\uFFFD') < 0, "no replacement character for bytes still coming: " + Arrays.toString(ids));
            seen.append(part);
        }
        assertEquals("é😀", seen.toString());
        assertEquals("", d.flush());
    }

    private static void assertStreamsAsItDecodes(int[] ids) {
        StreamingDecoder d = tok.streamingDecoder();
        StringBuilder streamed = new StringBuilder();
        for (int i = 0; i < ids.length; i++) {
            streamed.append(d.next(ids[i]));
            String whole = tok.decode(Arrays.copyOf(ids, i + 1));
            int k = i;
            assertTrue(whole.startsWith(streamed.toString()), () -> "after " + (k + 1) + " of " + Arrays.toString(ids));
        }
        streamed.append(d.flush());
        assertEquals(tok.decode(ids), streamed.toString(), () -> Arrays.toString(ids));
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = StreamingDecoderTest.class.getResourceAsStream("/reference/tokenizer/" + name)) {
            if (in == null) throw new IOException("missing test resource " + name);
            return in.readAllBytes();
        }
    }
}
