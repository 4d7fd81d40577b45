package dev.steer4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GPT2TokenizerTest {

    private static final String DIR = "/reference/tokenizer/";
    private static byte[] vocabJson;
    private static byte[] mergesTxt;
    private static GPT2Tokenizer tok;

    @BeforeAll
    static void load() throws IOException {
        vocabJson = resource("vocab.json");
        mergesTxt = resource("merges.txt");
        tok = GPT2Tokenizer.fromFiles(vocabJson, mergesTxt);
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = GPT2TokenizerTest.class.getResourceAsStream(DIR + name)) {
            if (in == null) {
                throw new IOException("missing test resource " + DIR + name);
            }
            return in.readAllBytes();
        }
    }

    @Test
    void referenceCasesEncodeExactlyAndRoundTrip() throws IOException {
        JsonNode cases = new ObjectMapper().readTree(resource("tokenizer_cases.json"));
        assertEquals(65, cases.size());
        for (JsonNode c : cases) {
            String text = c.get("text").asText();
            int[] expected = new int[c.get("ids").size()];
            for (int i = 0; i < expected.length; i++) {
                expected[i] = c.get("ids").get(i).asInt();
            }
            int[] ids = tok.encode(text);
            assertArrayEquals(expected, ids, () -> "encode(" + quote(text) + ")");
            assertEquals(text, tok.decode(ids), () -> "decode(encode(" + quote(text) + "))");
        }
    }

    @Test
    void anchors() {
        assertArrayEquals(new int[] {18565}, tok.encode("Love"));
        assertArrayEquals(new int[] {5896}, tok.encode(" Love"));
        assertArrayEquals(new int[] {39, 378}, tok.encode("Hate"));
        assertArrayEquals(new int[] {28334}, tok.encode(" Hate"));
        assertArrayEquals(new int[] {220}, tok.encode(" "));
        assertArrayEquals(new int[0], tok.encode(""));
        assertEquals("", tok.decode(new int[0]));
        assertArrayEquals(new int[] {40, 892, 6844, 389, 220}, tok.encode("I think dogs are "));
        assertArrayEquals(new int[] {8888, 314, 1254}, tok.encode("Today I feel"));
        assertArrayEquals(new int[] {464, 3139, 286, 4881, 318}, tok.encode("The capital of France is"));
    }

    @Test
    void vocabFacts() {
        assertEquals(50257, tok.vocabSize());
        assertEquals(50256, tok.eosTokenId());
        assertEquals("<|endoftext|>", tok.decode(new int[] {50256}));
        assertEquals("ĠLove", tok.tokenString(5896));
        assertEquals("!", tok.tokenString(0));
    }

    @Test
    void endOfTextIsOrdinaryText() {
        int[] ids = tok.encode("<|endoftext|>");
        assertArrayEquals(new int[] {27, 91, 437, 1659, 5239, 91, 29}, ids);
        assertEquals("<|endoftext|>", tok.decode(ids));
    }

    @Test
    void noBreakSpaceIsWhitespace() {
        // As in Python/JS, U+00A0 is \s: "a", nbsp, nbsp, "b". Java's default \s would give "a", nbsp+nbsp, "b".
        Matcher m = GPT2Tokenizer.PRE_TOKENIZER.matcher("a\u00a0\u00a0b c  d");
        List<String> pieces = new ArrayList<>();
        while (m.find()) {
            pieces.add(m.group());
        }
        assertEquals(List.of("a", "\u00a0", "\u00a0", "b", " c", " ", " d"), pieces);
    }

    @Test
    void randomUnicodeRoundTrips() {
        String[] pools = {
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "0123456789",
            " \t\n\r\u00a0 ",
            ".,;:!?-\"()[]{}<>/\\@#$%^&*_+=|~`",
            "''''stremvld",
            "éèàüößçñøåæœÉ\u0301\u0308",
            "абвгдежзийклмнопрстуфхцчшщъыьэюяЖ",
            "αβγδεζηθικλμνξοπρστυφχψωΩ",
            "中文字符测试日本語のテキスト한국어",
            "अआइईउऊएऐओऔकखगघ्",
            "กขคฆงจฉชซฌญฎฏ",
            "שלוםעולם",
            "\uD83D\uDE00\uD83D\uDC4D\uD83C\uDFFD\u200D\uD83C\uDDFA\uD83C\uDDF8\uFE0F\uD83C\uDF08\uD83D\uDC69",
            "\u2019\u201c\u201d\u2014\u2026",
        };
        Random rnd = new Random(20240611);
        for (int n = 0; n < 5000; n++) {
            StringBuilder sb = new StringBuilder();
            int len = rnd.nextInt(48);
            for (int i = 0; i < len; i++) {
                String pool = pools[rnd.nextInt(pools.length)];
                int k = rnd.nextInt(pool.codePointCount(0, pool.length()));
                sb.appendCodePoint(pool.codePointAt(pool.offsetByCodePoints(0, k)));
            }
            String text = sb.toString();
            assertEquals(text, tok.decode(tok.encode(text)), () -> "round trip of " + quote(text));
        }
    }

    @Test
    void outOfRangeIdIsRejected() {
        dev.steer4j.InvalidInputException e = assertThrows(dev.steer4j.InvalidInputException.class, () -> tok.decode(new int[] {50257}));
        assertTrue(e.getMessage().contains("50257"), e.getMessage());
        assertThrows(dev.steer4j.InvalidInputException.class, () -> tok.decode(new int[] {40, -1}));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> tok.tokenString(100000));
    }

    @Test
    void fromDirectoryReadsBothFiles(@TempDir Path dir) throws IOException {
        Files.write(dir.resolve("vocab.json"), vocabJson);
        Files.write(dir.resolve("merges.txt"), mergesTxt);
        assertArrayEquals(new int[] {5896}, GPT2Tokenizer.fromDirectory(dir).encode(" Love"));
    }

    @Test
    void missingFileGivesClearError(@TempDir Path dir) throws IOException {
        Files.write(dir.resolve("vocab.json"), vocabJson);
        dev.steer4j.InvalidInputException e = assertThrows(dev.steer4j.InvalidInputException.class, () -> GPT2Tokenizer.fromDirectory(dir));
        assertTrue(e.getMessage().contains("merges.txt"), e.getMessage());
    }

    @Test
    void malformedFilesGiveClearErrors() {
        dev.steer4j.InvalidInputException v = assertThrows(dev.steer4j.InvalidInputException.class,
                () -> GPT2Tokenizer.fromFiles("{not json".getBytes(StandardCharsets.UTF_8), mergesTxt));
        assertTrue(v.getMessage().contains("vocab.json") && !v.getMessage().contains("\n"), v.getMessage());
        dev.steer4j.InvalidInputException m = assertThrows(dev.steer4j.InvalidInputException.class,
                () -> GPT2Tokenizer.fromFiles(vocabJson, "#version: 0.2\nonlyonetoken\n".getBytes(StandardCharsets.UTF_8)));
        assertTrue(m.getMessage().contains("merges.txt"), m.getMessage());
    }

    @Test
    void vocabNotInMergesOrderIsRejected() throws IOException {
        // Tiny byte-level vocab: 256 byte tokens, then "h e" and "he y"; swapping their ids breaks rank = merge order.
        char[] byteToChar = GPT2Tokenizer.bytesToUnicode();
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(byteToChar[b]), b);
        }
        byte[] merges = "#version: 0.2\nh e\nhe y\n".getBytes(StandardCharsets.UTF_8);
        ObjectMapper om = new ObjectMapper();

        vocab.put("he", 256);
        vocab.put("hey", 257);
        GPT2Tokenizer small = GPT2Tokenizer.fromFiles(om.writeValueAsBytes(vocab), merges);
        assertArrayEquals(new int[] {257}, small.encode("hey"));
        assertEquals("hey", small.decode(small.encode("hey")));

        vocab.put("he", 257);
        vocab.put("hey", 256);
        dev.steer4j.InvalidInputException e = assertThrows(dev.steer4j.InvalidInputException.class,
                () -> GPT2Tokenizer.fromFiles(om.writeValueAsBytes(vocab), merges));
        assertTrue(e.getMessage().contains("merges.txt order"), e.getMessage());
    }

    private static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        s.codePoints().forEach(cp -> sb.append(cp < 0x20 || cp > 0x7e ? String.format("\\u{%x}", cp) : Character.toString(cp)));
        return sb.append('"').toString();
    }
}
