package dev.steer4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.steer4j.safetensors.DType;
import dev.steer4j.safetensors.SafetensorsException;
import dev.steer4j.safetensors.SafetensorsFile;
import dev.steer4j.safetensors.SafetensorsWriter;
import dev.steer4j.safetensors.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfCheckpointTest {
    static final Path REF_DIR = Path.of("src/test/resources/reference/tiny-gpt2");
    static final Path HUB = Path.of("src/test/resources/reference/tiny-gpt2-hub-names.safetensors");

    @TempDir
    Path tmp;

    @Test
    void opensReferenceCheckpoint() throws IOException {
        byte[] raw = Files.readAllBytes(REF_DIR.resolve("model.safetensors"));
        try (HfCheckpoint ck = HfCheckpoint.open(REF_DIR)) {
            GPT2Config c = ck.config();
            assertEquals(new GPT2Config(3, 2, 32, 64, 50257, 128, 1e-5), c);
            assertEquals(16, c.headDim());
            assertEquals(Files.readString(REF_DIR.resolve("config.json")), ck.configJson());

            List<String> names = ck.canonicalNames();
            assertEquals(40, names.size());
            assertEquals(List.of("wte.weight", "wpe.weight", "h.0.ln_1.weight", "h.0.ln_1.bias",
                    "h.0.attn.c_attn.weight", "h.0.attn.c_attn.bias", "h.0.attn.c_proj.weight", "h.0.attn.c_proj.bias",
                    "h.0.ln_2.weight", "h.0.ln_2.bias", "h.0.mlp.c_fc.weight", "h.0.mlp.c_fc.bias",
                    "h.0.mlp.c_proj.weight", "h.0.mlp.c_proj.bias"), names.subList(0, 14));
            assertEquals(List.of("ln_f.weight", "ln_f.bias"), names.subList(38, 40));

            assertArrayEquals(new long[] {50257, 32}, ck.info("wte.weight").shape());
            assertArrayEquals(new long[] {32, 96}, ck.info("h.1.attn.c_attn.weight").shape());
            assertArrayEquals(new long[] {128, 32}, ck.info("h.2.mlp.c_proj.weight").shape());
            assertEquals(DType.F32, ck.dtype("ln_f.bias"));

            // independent read: ln_f.bias sits at data offset 152448 after the 8 + 3720 header bytes
            ByteBuffer lnf = ByteBuffer.wrap(raw, 8 + 3720 + 152448, 128).slice().order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(lnf, ck.data("ln_f.bias"));
            assertEquals(lnf.getFloat(0), ck.toFloatArray("ln_f.bias")[0]);
            assertEquals(0.026255125179886818f, ck.toFloatArray("ln_f.bias")[0]);
            assertThrows(dev.steer4j.InvalidInputException.class, () -> ck.info("lm_head.weight"));
        }
    }

    @Test
    void hubNamesGiveIdenticalWeights() throws IOException {
        Path dir = dirWithConfig("hub");
        Files.copy(HUB, dir.resolve("model.safetensors"));
        assertSameWeights(dir);
    }

    @Test
    void shardedCheckpointLoadsIdentically() throws IOException {
        Path dir = dirWithConfig("sharded");
        String s1 = "model-00001-of-00002.safetensors";
        String s2 = "model-00002-of-00002.safetensors";
        StringBuilder map = new StringBuilder();
        try (SafetensorsFile ref = SafetensorsFile.open(REF_DIR.resolve("model.safetensors"))) {
            SafetensorsWriter w1 = new SafetensorsWriter().putMetadata("format", "pt");
            SafetensorsWriter w2 = new SafetensorsWriter().putMetadata("format", "pt");
            for (TensorInfo t : ref.tensors().values()) {
                boolean first = t.name().contains(".h.0.") || t.name().contains("wte");
                (first ? w1 : w2).add(t.name(), t.dtype(), t.shape(), ref.data(t.name()));
                map.append(map.length() == 0 ? "" : ",\n")
                        .append("    \"").append(t.name()).append("\": \"").append(first ? s1 : s2).append('"');
            }
            w1.write(dir.resolve(s1));
            w2.write(dir.resolve(s2));
        }
        Files.writeString(dir.resolve("model.safetensors.index.json"),
                "{\"metadata\": {\"total_size\": 6593792},\n  \"weight_map\": {\n" + map + "\n  }\n}\n");
        assertSameWeights(dir);

        // an index pointing at a shard that is not there
        Files.delete(dir.resolve(s2));
        String msg = openError(dir);
        assertTrue(msg.contains("shard " + s2) && msg.contains("missing"), msg);
    }

    @Test
    void float16AndBfloat16CheckpointsReadBackWithinRounding() throws IOException {
        for (DType dt : new DType[] {DType.F16, DType.BF16}) {
            Path dir = dirWithConfig(dt.code());
            writeConverted(dir.resolve("model.safetensors"), (w, t) -> true, dt);
            try (HfCheckpoint ck = HfCheckpoint.open(dir); HfCheckpoint ref = HfCheckpoint.open(REF_DIR)) {
                for (String name : ck.canonicalNames()) {
                    assertEquals(dt, ck.dtype(name));
                    float[] want = ref.toFloatArray(name);
                    float[] got = ck.toFloatArray(name);
                    assertEquals(want.length, got.length);
                    assertEquals((long) want.length * 2, ck.data(name).remaining());
                    for (int i = 0; i < want.length; i++) {
                        float x = want[i];
                        // half: relative 2^-11 for normals, absolute 2^-25 in the subnormal range
                        double tol = dt == DType.F16 ? Math.max(Math.abs(x) * 0x1p-11, 0x1p-25) : Math.abs(x) * 0x1p-8;
                        assertTrue(Math.abs(got[i] - x) <= tol, name + "[" + i + "] " + x + " -> " + got[i]);
                    }
                }
            }
        }
    }

    @Test
    void extraTensorsAndLmHeadAreIgnored() throws IOException {
        Path dir = dirWithConfig("extra");
        Path file = dir.resolve("model.safetensors");
        try (SafetensorsFile ref = SafetensorsFile.open(REF_DIR.resolve("model.safetensors"))) {
            SafetensorsWriter w = new SafetensorsWriter();
            for (TensorInfo t : ref.tensors().values()) {
                w.add(t.name(), t.dtype(), t.shape(), ref.data(t.name()));
            }
            w.add("lm_head.weight", DType.F32, new long[] {50257, 32}, ref.data("transformer.wte.weight"));
            w.addF32("transformer.h.0.attn.bias", new long[] {2}, new float[] {1, 0});
            w.addF32("something.else", new long[] {1}, new float[] {7});
            w.write(file);
        }
        assertSameWeights(dir);
    }

    @Test
    void usesNInnerFromConfig() throws IOException {
        Path dir = tmp.resolve("inner");
        Files.createDirectories(dir);
        GPT2Config c = new GPT2Config(1, 2, 8, 4, 10, 20, 1e-5);
        Files.writeString(dir.resolve("config.json"), c.toJson());
        SafetensorsWriter w = new SafetensorsWriter();
        HfCheckpoint.expectedShapes(c).forEach((n, shape) ->
                w.add(n, DType.F32, shape, new byte[(int) Arrays.stream(shape).reduce(4, (x, y) -> x * y)]));
        w.write(dir.resolve("model.safetensors"));
        try (HfCheckpoint ck = HfCheckpoint.open(dir)) {
            assertEquals(c, ck.config());
            assertArrayEquals(new long[] {8, 20}, ck.info("h.0.mlp.c_fc.weight").shape());
            assertArrayEquals(new long[] {20, 8}, ck.info("h.0.mlp.c_proj.weight").shape());
        }
    }

    // ---- errors ----

    @Test
    void missingConfigOrWeights() throws IOException {
        Path empty = tmp.resolve("empty");
        Files.createDirectories(empty);
        assertEquals("checkpoint " + empty + ": missing config.json", openError(empty));
        Path noWeights = dirWithConfig("noweights");
        assertEquals("no model.safetensors or model.safetensors.index.json in " + noWeights, openError(noWeights));
        assertTrue(openError(tmp.resolve("does-not-exist")).contains("not a directory"));
    }

    @Test
    void missingTensor() throws IOException {
        Path dir = dirWithConfig("missing");
        writeConverted(dir.resolve("model.safetensors"), (w, t) -> !t.name().equals("transformer.h.2.mlp.c_fc.weight"),
                DType.F32);
        assertEquals("checkpoint " + dir + ": missing tensor h.2.mlp.c_fc.weight", openError(dir));
    }

    @Test
    void wrongShapeAndDtype() throws IOException {
        Path dir = dirWithConfig("shape");
        Path file = dir.resolve("model.safetensors");
        writeConverted(file, (w, t) -> {
            if (t.name().equals("transformer.h.0.attn.c_attn.weight")) {
                w.addF32(t.name(), new long[] {32, 95}, new float[32 * 95]);
                return false;
            }
            return true;
        }, DType.F32);
        assertEquals("checkpoint " + dir + ": tensor h.0.attn.c_attn.weight has shape [32, 95], expected [32, 96]",
                openError(dir));

        writeConverted(file, (w, t) -> {
            if (t.name().equals("transformer.ln_f.bias")) {
                w.add(t.name(), DType.I32, new long[] {32}, new byte[128]);
                return false;
            }
            return true;
        }, DType.F32);
        assertEquals("checkpoint " + dir + ": tensor ln_f.bias has dtype I32, expected F32, F16 or BF16",
                openError(dir));
    }

    @Test
    void malformedSafetensorsFiles() throws IOException {
        byte[] raw = Files.readAllBytes(REF_DIR.resolve("model.safetensors"));
        Path dir = dirWithConfig("bad");
        Path file = dir.resolve("model.safetensors");

        Files.write(file, Arrays.copyOf(raw, raw.length - 100)); // truncated data
        assertSafetensorsError(dir, "transformer.wte.weight", "beyond the data section");

        byte[] garbage = raw.clone();
        garbage[8] = 'X'; // first header byte no longer '{'
        Files.write(file, garbage);
        assertSafetensorsError(dir, "not valid JSON");

        byte[] longHeader = raw.clone();
        ByteBuffer.wrap(longHeader).order(ByteOrder.LITTLE_ENDIAN).putLong(0, raw.length + 1);
        Files.write(file, longHeader);
        assertSafetensorsError(dir, "larger than the file");

        // an offset edited to point past the data, keeping the header length
        String header = new String(raw, 8, 3720, java.nio.charset.StandardCharsets.ISO_8859_1);
        String edited = header.replace("[160896,6593792]", "[160896,6693792]");
        assertEquals(header.length(), edited.length());
        byte[] badOffsets = raw.clone();
        System.arraycopy(edited.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1), 0, badOffsets, 8, 3720);
        Files.write(file, badOffsets);
        assertSafetensorsError(dir, "transformer.wte.weight", "beyond the data section");

        Files.write(file, new byte[] {1, 0, 0});
        assertSafetensorsError(dir, "shorter than");
    }

    @Test
    void badConfig() throws IOException {
        Path dir = tmp.resolve("badcfg");
        Files.createDirectories(dir);
        Files.copy(REF_DIR.resolve("model.safetensors"), dir.resolve("model.safetensors"));
        String cfg = Files.readString(REF_DIR.resolve("config.json"));
        Files.writeString(dir.resolve("config.json"), cfg.replace("\"gelu_new\"", "\"relu\""));
        String msg = openError(dir);
        assertTrue(msg.startsWith("checkpoint " + dir + ": config.json: ") && msg.contains("relu"), msg);
        Files.writeString(dir.resolve("config.json"), cfg.replace("\"n_head\": 2", "\"n_head\": 3"));
        assertTrue(openError(dir).contains("not divisible"));
        Files.writeString(dir.resolve("config.json"), "{not json");
        assertTrue(openError(dir).contains("not valid JSON"));
    }

    @Test
    void configJsonRoundTripAndDefaults() {
        GPT2Config c = GPT2Config.fromJson("{\"n_layer\":2,\"n_head\":4,\"n_embd\":64,\"n_positions\":16,"
                + "\"vocab_size\":100,\"activation_function\":\"gelu_pytorch_tanh\"}");
        assertEquals(new GPT2Config(2, 4, 64, 16, 100, 256, 1e-5), c);
        assertEquals(c, GPT2Config.fromJson(c.toJson()));
        GPT2Config d = new GPT2Config(1, 1, 3, 2, 5, 7, 1e-6);
        assertEquals(d, GPT2Config.fromJson(d.toJson()));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> GPT2Config.fromJson("{\"n_layer\":2}"));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> GPT2Config.fromJson(
                "{\"n_layer\":0,\"n_head\":4,\"n_embd\":64,\"n_positions\":16,\"vocab_size\":100}"));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> GPT2Config.fromJson(
                "{\"n_layer\":1.5,\"n_head\":4,\"n_embd\":64,\"n_positions\":16,\"vocab_size\":100}"));
    }

    // ---- helpers ----

    private Path dirWithConfig(String name) throws IOException {
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        Files.copy(REF_DIR.resolve("config.json"), dir.resolve("config.json"));
        return dir;
    }

    /** Every canonical tensor of {@code dir} is byte-identical to the reference checkpoint. */
    private static void assertSameWeights(Path dir) throws IOException {
        try (HfCheckpoint ck = HfCheckpoint.open(dir); HfCheckpoint ref = HfCheckpoint.open(REF_DIR)) {
            assertEquals(ref.config(), ck.config());
            assertEquals(ref.canonicalNames(), ck.canonicalNames());
            for (String name : ref.canonicalNames()) {
                assertEquals(ref.dtype(name), ck.dtype(name), name);
                assertArrayEquals(ref.info(name).shape(), ck.info(name).shape(), name);
                assertEquals(ref.data(name), ck.data(name), name);
            }
        }
    }

    /** Interface for tests that replace some tensors: return false to skip copying {@code t}. */
    private interface Filter {
        boolean keep(SafetensorsWriter w, TensorInfo t);
    }

    /** Copies the reference tensors into {@code out} in dtype {@code dt}, letting {@code filter} edit them. */
    private static void writeConverted(Path out, Filter filter, DType dt) throws IOException {
        try (SafetensorsFile ref = SafetensorsFile.open(REF_DIR.resolve("model.safetensors"))) {
            SafetensorsWriter w = new SafetensorsWriter().putMetadata("format", "pt");
            for (TensorInfo t : ref.tensors().values()) {
                if (!filter.keep(w, t)) {
                    continue;
                }
                float[] x = ref.toFloatArray(t.name());
                switch (dt) {
                    case F16 -> w.addF16(t.name(), t.shape(), x);
                    case BF16 -> w.addBF16(t.name(), t.shape(), x);
                    default -> w.addF32(t.name(), t.shape(), x);
                }
            }
            w.write(out);
        }
    }

    private static String openError(Path dir) {
        dev.steer4j.InvalidInputException e = assertThrows(dev.steer4j.InvalidInputException.class, () -> HfCheckpoint.open(dir).close());
        assertTrue(!e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    private static void assertSafetensorsError(Path dir, String... parts) {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> HfCheckpoint.open(dir).close());
        assertTrue(e.getMessage().contains(dir.resolve("model.safetensors").toString()), e.getMessage());
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "'" + e.getMessage() + "' should contain '" + p + "'");
        }
    }
}
