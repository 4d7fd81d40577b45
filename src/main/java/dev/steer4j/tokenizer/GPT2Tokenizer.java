package dev.steer4j.tokenizer;

import dev.steer4j.InvalidInputException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.GptBytePairEncodingParams;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * GPT-2 byte-level BPE tokenizer, giving the same ids as OpenAI's {@code encoder.py}, built from a checkpoint's
 * own {@code vocab.json} and {@code merges.txt}.
 *
 * <p>The BPE itself runs in jtokkit, which merges by token rank (tiktoken style). That equals GPT-2's merge-rank
 * BPE when a token's id is its merge's rank, so the factories check that the vocab follows the merges order (every
 * single-byte token present, merge {@code i}'s result present, ids strictly increasing along the merges) and throw
 * {@link InvalidInputException} if not. Vocab entries that are neither a byte nor a merge result (for GPT-2 only
 * {@code <|endoftext|>}) are special: {@link #encode} never produces them, the text {@code <|endoftext|>} is encoded
 * as ordinary text, and no BOS/EOS is added; {@link #decode} accepts them.
 */
public final class GPT2Tokenizer {

    /** encoder.py's pre-tokenizer. UNICODE_CHARACTER_CLASS makes {@code \s} match U+00A0, as in Python/JavaScript. */
    static final Pattern PRE_TOKENIZER = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    static final String EOS = "<|endoftext|>";

    private final Encoding bpe;
    private final String[] idToToken; // vocab.json keys (byte-level unicode form), null where an id is unused
    private final byte[][] idToBytes;
    private final int vocabSize;
    private final int eosTokenId;

    private GPT2Tokenizer(Encoding bpe, String[] idToToken, byte[][] idToBytes, int vocabSize, int eosTokenId) {
        this.bpe = bpe;
        this.idToToken = idToToken;
        this.idToBytes = idToBytes;
        this.vocabSize = vocabSize;
        this.eosTokenId = eosTokenId;
    }

    /** Reads {@code dir/vocab.json} and {@code dir/merges.txt}. */
    public static GPT2Tokenizer fromDirectory(Path dir) {
        return fromFiles(readFile(dir.resolve("vocab.json")), readFile(dir.resolve("merges.txt")));
    }

    /**
     * Tokenizers built lately, by a digest of their files: a long-lived JVM that loads the same model again reuses
     * its tokenizer. Building one is slow and leaves the JVM's resident memory higher each time (BENCHMARKS.md,
     * "Memory over long runs"); a tokenizer is immutable, so sharing it is safe.
     */
    private static final Map<String, GPT2Tokenizer> RECENT = new java.util.LinkedHashMap<>(8, 0.75f, true) {
        @Override protected boolean removeEldestEntry(Map.Entry<String, GPT2Tokenizer> eldest) {
            return size() > 4;
        }
    };

    /** Builds a tokenizer from the contents of HF {@code vocab.json} and {@code merges.txt} (or reuses one built from the same). */
    public static GPT2Tokenizer fromFiles(byte[] vocabJson, byte[] mergesTxt) {
        String key = digest(vocabJson, mergesTxt);
        synchronized (RECENT) {
            GPT2Tokenizer t = RECENT.get(key);
            if (t != null) return t;
        }
        GPT2Tokenizer built = build(vocabJson, mergesTxt);
        synchronized (RECENT) {
            RECENT.put(key, built);
        }
        return built;
    }

    private static String digest(byte[] vocabJson, byte[] mergesTxt) {
        try {
            java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
            sha.update(vocabJson);
            sha.update((byte) 0);
            sha.update(Integer.toString(vocabJson.length).getBytes(StandardCharsets.US_ASCII)); // the boundary
            sha.update(mergesTxt);
            return java.util.HexFormat.of().formatHex(sha.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }

    private static GPT2Tokenizer build(byte[] vocabJson, byte[] mergesTxt) {
        Map<String, Integer> vocab = parseVocab(vocabJson);
        String[][] merges = parseMerges(mergesTxt);
        char[] byteToChar = bytesToUnicode();
        Map<Character, Integer> charToByte = new HashMap<>();
        for (int b = 0; b < 256; b++) {
            charToByte.put(byteToChar[b], b);
        }

        int maxId = -1;
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            if (e.getValue() == null || e.getValue() < 0) {
                throw new InvalidInputException("vocab.json: token " + e.getKey() + " has no valid id");
            }
            maxId = Math.max(maxId, e.getValue());
        }
        String[] idToToken = new String[maxId + 1];
        byte[][] idToBytes = new byte[maxId + 1][];
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            int id = e.getValue();
            if (idToToken[id] != null) {
                throw new InvalidInputException("vocab.json: id " + id + " is used twice");
            }
            idToToken[id] = e.getKey();
            idToBytes[id] = tokenBytes(e.getKey(), charToByte);
        }

        // Rank map for jtokkit: the 256 byte tokens plus one token per merge, with ids in merges order.
        Map<byte[], Integer> ranks = new HashMap<>();
        Map<String, Integer> regular = new HashMap<>();
        for (int b = 0; b < 256; b++) {
            String token = String.valueOf(byteToChar[b]);
            Integer id = vocab.get(token);
            if (id == null) {
                throw new InvalidInputException("vocab.json: missing the byte token " + token + " (byte " + b + ")");
            }
            regular.put(token, id);
        }
        int previous = -1;
        for (int i = 0; i < merges.length; i++) {
            String merged = merges[i][0] + merges[i][1];
            Integer id = vocab.get(merged);
            if (id == null) {
                throw new InvalidInputException("merges.txt: the result of merge " + (i + 1) + " ("
                        + merges[i][0] + " " + merges[i][1] + ") is not in vocab.json");
            }
            if (id <= previous) {
                throw new InvalidInputException("vocab.json ids do not follow the merges.txt order at merge "
                        + (i + 1) + " (" + merges[i][0] + " " + merges[i][1] + " -> id " + id
                        + "); this tokenizer needs a GPT-2 style vocab");
            }
            previous = id;
            regular.put(merged, id);
        }
        for (Map.Entry<String, Integer> e : regular.entrySet()) {
            ranks.put(idToBytes[e.getValue()], e.getValue());
        }
        Map<String, Integer> specials = new LinkedHashMap<>();
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            if (!regular.containsKey(e.getKey())) {
                specials.put(e.getKey(), e.getValue());
            }
        }

        Encoding bpe = Encodings.newLazyEncodingRegistry()
                .registerGptBytePairEncoding(new GptBytePairEncodingParams("gpt2-checkpoint", PRE_TOKENIZER, ranks, specials))
                .getEncoding("gpt2-checkpoint")
                .orElseThrow();
        return new GPT2Tokenizer(bpe, idToToken, idToBytes, vocab.size(), vocab.getOrDefault(EOS, -1));
    }

    /** Encodes text to GPT-2 ids; special-token text is treated as ordinary text. */
    public int[] encode(String text) {
        return bpe.encodeOrdinary(text).toArray();
    }

    /** Decodes ids to bytes, then to UTF-8 (malformed sequences become U+FFFD, as encoder.py's errors="replace"). */
    public String decode(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int id : ids) {
            out.writeBytes(bytes(id));
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** A decoder that turns ids into text as they come, a token at a time (for streaming). */
    public StreamingDecoder streamingDecoder() {
        return new StreamingDecoder(this);
    }

    /** The UTF-8 bytes that token {@code id} stands for. */
    byte[] bytes(int id) {
        return idToBytes[checkId(id)];
    }

    public int vocabSize() {
        return vocabSize;
    }

    /** Id of {@code <|endoftext|>} (50256 for GPT-2). */
    public int eosTokenId() {
        if (eosTokenId < 0) {
            throw new IllegalStateException("vocab.json has no " + EOS + " token");
        }
        return eosTokenId;
    }

    /** The token as written in vocab.json (byte-level form, e.g. "ĠLove" for " Love"). */
    public String tokenString(int id) {
        return idToToken[checkId(id)];
    }

    private int checkId(int id) {
        if (id < 0 || id >= idToToken.length || idToToken[id] == null) {
            throw new InvalidInputException("token id " + id + " is not in the vocabulary (size " + vocabSize + ")");
        }
        return id;
    }

    /** GPT-2's bytes_to_unicode(): printable bytes map to themselves, the rest to U+0100 onwards. */
    static char[] bytesToUnicode() {
        char[] table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = (char) (printable ? b : next++);
        }
        return table;
    }

    /** Byte-level token string -> raw bytes; tokens outside that alphabet (added tokens) are taken as UTF-8. */
    private static byte[] tokenBytes(String token, Map<Character, Integer> charToByte) {
        byte[] bytes = new byte[token.length()];
        for (int i = 0; i < token.length(); i++) {
            Integer b = charToByte.get(token.charAt(i));
            if (b == null) {
                return token.getBytes(StandardCharsets.UTF_8);
            }
            bytes[i] = (byte) (int) b;
        }
        return bytes;
    }

    private static Map<String, Integer> parseVocab(byte[] json) {
        try {
            Map<String, Integer> vocab = new ObjectMapper().readValue(json, new TypeReference<Map<String, Integer>>() { });
            if (vocab == null || vocab.isEmpty()) {
                throw new InvalidInputException("vocab.json is empty");
            }
            return vocab;
        } catch (IOException e) {
            throw new InvalidInputException("vocab.json is not a JSON object of token -> id: "
                    + e.getMessage().lines().findFirst().orElse(""), e);
        }
    }

    private static String[][] parseMerges(byte[] txt) {
        String[] lines = new String(txt, StandardCharsets.UTF_8).split("\r?\n");
        java.util.List<String[]> merges = new java.util.ArrayList<>();
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            if (line.isEmpty() || (i == 0 && line.startsWith("#version"))) {
                continue;
            }
            if (line.indexOf('\uFFFD') >= 0) { // what the decoder put for bytes that are not UTF-8
                throw new InvalidInputException("merges.txt line " + (i + 1) + " is not valid UTF-8 text");
            }
            String[] pair = line.split(" ");
            if (pair.length != 2 || pair[0].isEmpty() || pair[1].isEmpty()) {
                // quoted only when it is short readable text: a garbled file must not spill bytes on the terminal
                boolean readable = line.length() <= 80 && line.chars().noneMatch(Character::isISOControl);
                throw new InvalidInputException("merges.txt line " + (i + 1) + " is not two tokens separated by a space"
                        + (readable ? ": \"" + line + "\"" : ""));
            }
            merges.add(pair);
        }
        return merges.toArray(new String[0][]);
    }

    private static byte[] readFile(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new InvalidInputException("tokenizer file not found: " + file, e);
        } catch (IOException e) {
            throw new InvalidInputException("cannot read tokenizer file " + file + ": " + dev.steer4j.io.IoErrors.reason(e), e);
        }
    }
}
