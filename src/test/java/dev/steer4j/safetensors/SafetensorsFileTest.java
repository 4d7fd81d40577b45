package dev.steer4j.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ReadOnlyBufferException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsFileTest {
    static final Path MODEL = Path.of("src/test/resources/reference/tiny-gpt2/model.safetensors");
    static final Path HUB = Path.of("src/test/resources/reference/tiny-gpt2-hub-names.safetensors");
    static final long DATA_START = 8 + 3720;

    @TempDir
    Path tmp;

    /** Little-endian floats read straight from the file bytes, independent of the reader. */
    static float[] rawFloats(byte[] file, long offset, int count) {
        ByteBuffer b = ByteBuffer.wrap(file, (int) offset, count * 4).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[count];
        for (int i = 0; i < count; i++) {
            out[i] = b.getFloat();
        }
        return out;
    }

    @Test
    void readsReferenceModel() throws IOException {
        byte[] raw = Files.readAllBytes(MODEL);
        assertEquals(3720, ByteBuffer.wrap(raw, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong());
        try (SafetensorsFile f = SafetensorsFile.open(MODEL)) {
            assertEquals(40, f.tensors().size());
            assertEquals(Map.of("format", "pt"), f.metadata());
            // header order is preserved
            assertEquals("transformer.h.0.attn.c_attn.bias", f.tensors().keySet().iterator().next());

            TensorInfo wte = f.info("transformer.wte.weight");
            assertEquals(DType.F32, wte.dtype());
            assertArrayEquals(new long[] {50257, 32}, wte.shape());
            assertEquals(50257L * 32, wte.numel());
            assertEquals(160896, wte.begin());
            assertEquals(6593792, wte.end());

            // offsets taken from the header by hand (see README / python dump)
            float[] lnf = f.toFloatArray("transformer.ln_f.bias");
            assertArrayEquals(rawFloats(raw, DATA_START + 152448, 32), lnf);
            assertEquals(0.026255125179886818f, lnf[0]);
            float[] cattn = f.toFloatArray("transformer.h.0.attn.c_attn.weight");
            assertEquals(32 * 96, cattn.length);
            assertArrayEquals(rawFloats(raw, DATA_START + 384, 32 * 96), cattn);
            assertEquals(-0.0062191965989768505f, cattn[0]);
            float[] wteData = f.toFloatArray("transformer.wte.weight");
            assertEquals(rawFloats(raw, DATA_START + 6593792 - 4, 1)[0], wteData[wteData.length - 1]);

            // every tensor's bytes are exactly its slice of the file
            for (TensorInfo t : f.tensors().values()) {
                ByteBuffer b = f.data(t.name());
                assertEquals(ByteOrder.LITTLE_ENDIAN, b.order());
                assertTrue(b.isReadOnly());
                assertEquals(ByteBuffer.wrap(raw, (int) (DATA_START + t.begin()), (int) t.byteLength()), b, t.name());
            }
        }
    }

    @Test
    void dataBuffersAreIndependentAndReadOnly() throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(MODEL)) {
            ByteBuffer a = f.data("transformer.ln_f.bias");
            a.getFloat();
            ByteBuffer b = f.data("transformer.ln_f.bias");
            assertEquals(0, b.position());
            assertEquals(128, b.remaining());
            assertThrows(ReadOnlyBufferException.class, () -> b.putFloat(0, 1f));
            assertFalse(f.has("lm_head.weight"));
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> f.info("nope"));
            assertTrue(e.getMessage().contains("nope"), e.getMessage());
        }
    }

    @Test
    void readsHubNamesFileWithBuffers() throws IOException {
        try (SafetensorsFile hub = SafetensorsFile.open(HUB); SafetensorsFile ref = SafetensorsFile.open(MODEL)) {
            assertEquals(46, hub.tensors().size());
            TensorInfo mb = hub.info("h.0.attn.masked_bias");
            assertArrayEquals(new long[0], mb.shape());
            assertEquals(1, mb.numel());
            assertArrayEquals(new float[] {-10000f}, hub.toFloatArray("h.0.attn.masked_bias"));
            float[] mask = hub.toFloatArray("h.2.attn.bias");
            assertArrayEquals(new long[] {1, 1, 64, 64}, hub.info("h.2.attn.bias").shape());
            for (int i = 0; i < 64; i++) {
                for (int j = 0; j < 64; j++) {
                    assertEquals(j <= i ? 1f : 0f, mask[i * 64 + j]);
                }
            }
            assertEquals(ref.data("transformer.h.1.mlp.c_fc.weight"), hub.data("h.1.mlp.c_fc.weight"));
        }
    }

    @Test
    void writerReproducesReferenceFileByteForByte() throws IOException {
        Path out = tmp.resolve("copy.safetensors");
        try (SafetensorsFile f = SafetensorsFile.open(MODEL)) {
            SafetensorsWriter w = new SafetensorsWriter();
            f.metadata().forEach(w::putMetadata);
            // add in header order; the writer sorts by name itself
            for (TensorInfo t : f.tensors().values()) {
                w.add(t.name(), t.dtype(), t.shape(), f.data(t.name()));
            }
            w.write(out);
        }
        assertArrayEquals(Files.readAllBytes(MODEL), Files.readAllBytes(out));
    }

    @Test
    void writerRoundTripWithMetadataAndAtomicReplace() throws IOException {
        Path out = tmp.resolve("w.safetensors");
        float[] a = {1f, -2.5f, 3.25f, Float.MIN_VALUE, Float.NaN, Float.NEGATIVE_INFINITY};
        float[] big = {1e-8f, 65504f, 70000f, -0f, 0.1f, 1f / 3};
        byte[] ints = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-7).putLong(1L << 40).array();
        new SafetensorsWriter()
                .addF32("z.a", new long[] {2, 3}, a)
                .addF16("b.half", new long[] {6}, big)
                .addBF16("c.bf", new long[] {6}, big)
                .add("a.ints", DType.I64, new long[] {2}, ints)
                .add("empty", DType.F32, new long[] {0, 4}, new byte[0])
                .putMetadata("format", "pt")
                .putMetadata("note", "héllo \"quoted\"")
                .write(out);
        byte[] raw = Files.readAllBytes(out);
        long headerLen = ByteBuffer.wrap(raw, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, headerLen % 8);
        String header = new String(raw, 8, (int) headerLen, StandardCharsets.UTF_8);
        assertTrue(header.substring(header.lastIndexOf('}') + 1).chars().allMatch(c -> c == ' '), header);
        try (SafetensorsFile f = SafetensorsFile.open(out)) {
            assertEquals(Map.of("format", "pt", "note", "héllo \"quoted\""), f.metadata());
            // data is laid out in name order
            assertEquals(List.of("a.ints", "b.half", "c.bf", "empty", "z.a"), List.copyOf(f.tensors().keySet()));
            assertEquals(0, f.info("a.ints").begin());
            assertArrayEquals(a, f.toFloatArray("z.a"));
            assertEquals(ByteBuffer.wrap(ints), f.data("a.ints"));
            assertEquals(-7L, f.data("a.ints").getLong(0));
            assertEquals(0, f.toFloatArray("empty").length);
            float[] h = f.toFloatArray("b.half");
            // 1e-8 is below half the smallest subnormal (2^-25), 70000 overflows to inf
            assertArrayEquals(new float[] {0f, 65504f, Float.POSITIVE_INFINITY, -0f}, Arrays.copyOf(h, 4));
            assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(h[3]));
            assertEquals(0.1f, h[4], 0.1f / 2048);
            assertEquals(1f / 3, h[5], 1f / 3 / 2048);
            float[] bf = f.toFloatArray("c.bf");
            for (int i = 0; i < big.length; i++) {
                assertEquals(big[i], bf[i], Math.abs(big[i]) / 256, "bf16 " + i);
            }
            assertEquals(DType.BF16, f.info("c.bf").dtype());
        }
        // replacing an existing file leaves only the new content and no temp files
        new SafetensorsWriter().addF32("only", new long[] {1}, new float[] {42f}).write(out);
        try (SafetensorsFile f = SafetensorsFile.open(out)) {
            assertEquals(List.of("only"), List.copyOf(f.tensors().keySet()));
            assertTrue(f.metadata().isEmpty());
            assertArrayEquals(new float[] {42f}, f.toFloatArray("only"));
        }
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(out), s.toList());
        }
    }

    @Test
    void writerRejectsBadInput() {
        SafetensorsWriter w = new SafetensorsWriter().addF32("a", new long[] {1}, new float[] {1});
        assertThrows(dev.steer4j.InvalidInputException.class, () -> w.addF32("a", new long[] {1}, new float[] {1}));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> w.addF32("b", new long[] {2}, new float[] {1}));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> w.addF32("__metadata__", new long[] {1}, new float[] {1}));
    }

    @Test
    void halfConversionKnownValues() {
        assertEquals(1f, FloatConversions.halfToFloat((short) 0x3c00));
        assertEquals(-2f, FloatConversions.halfToFloat((short) 0xc000));
        assertEquals(0x1p-24f, FloatConversions.halfToFloat((short) 0x0001));
        assertEquals(0x3ffp-24f, FloatConversions.halfToFloat((short) 0x03ff));
        assertEquals(0x1p-14f, FloatConversions.halfToFloat((short) 0x0400));
        assertEquals(65504f, FloatConversions.halfToFloat((short) 0x7bff));
        assertEquals(Float.POSITIVE_INFINITY, FloatConversions.halfToFloat((short) 0x7c00));
        assertEquals(Float.NEGATIVE_INFINITY, FloatConversions.halfToFloat((short) 0xfc00));
        assertTrue(Float.isNaN(FloatConversions.halfToFloat((short) 0x7e00)));
        assertTrue(Float.isNaN(FloatConversions.halfToFloat((short) 0x7c01)));
        assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(FloatConversions.halfToFloat((short) 0x8000)));
        assertEquals(-0x1p-24f, FloatConversions.halfToFloat((short) 0x8001));

        assertEquals((short) 0x3c00, FloatConversions.floatToHalf(1f));
        assertEquals((short) 0x7c00, FloatConversions.floatToHalf(65520f)); // tie above max rounds to inf
        assertEquals((short) 0x7bff, FloatConversions.floatToHalf(65519f));
        assertEquals((short) 0x7c00, FloatConversions.floatToHalf(1e10f));
        assertEquals((short) 0xfc00, FloatConversions.floatToHalf(Float.NEGATIVE_INFINITY));
        assertEquals((short) 0x3c00, FloatConversions.floatToHalf(1f + 0x1p-11f)); // tie to even
        assertEquals((short) 0x3c02, FloatConversions.floatToHalf(1f + 0x3p-11f)); // tie to even
        assertEquals((short) 0x0000, FloatConversions.floatToHalf(0x1p-25f)); // tie to even (zero)
        assertEquals((short) 0x0001, FloatConversions.floatToHalf(0x1.01p-25f));
        assertEquals((short) 0x0002, FloatConversions.floatToHalf(0x3p-25f)); // tie 1.5 -> 2
        assertEquals((short) 0x0400, FloatConversions.floatToHalf(0x3ff.8p-24f)); // carry into normal
        assertEquals((short) 0x8000, FloatConversions.floatToHalf(-0f));
        assertEquals((short) 0x8000, FloatConversions.floatToHalf(-Float.MIN_VALUE));
        assertTrue(Float.isNaN(FloatConversions.halfToFloat(FloatConversions.floatToHalf(Float.NaN))));
    }

    @Test
    void halfAndBf16RoundTripEveryBitPattern() {
        for (int i = 0; i < 0x10000; i++) {
            short h = (short) i;
            float f = FloatConversions.halfToFloat(h);
            if (Float.isNaN(f)) {
                assertTrue(Float.isNaN(FloatConversions.halfToFloat(FloatConversions.floatToHalf(f))));
            } else {
                assertEquals(h, FloatConversions.floatToHalf(f), Integer.toHexString(i));
            }
            float b = FloatConversions.bf16ToFloat(h);
            assertEquals(Float.floatToRawIntBits(b) >>> 16, i);
            if (Float.isNaN(b)) {
                assertTrue(Float.isNaN(FloatConversions.bf16ToFloat(FloatConversions.floatToBf16(b))));
            } else {
                assertEquals(h, FloatConversions.floatToBf16(b), Integer.toHexString(i));
            }
        }
    }

    @Test
    void halfRoundsToNearest() {
        Random r = new Random(1);
        for (int i = 0; i < 200_000; i++) {
            float f = (float) ((r.nextDouble() * 2 - 1) * Math.pow(2, r.nextInt(36) - 26));
            short h = FloatConversions.floatToHalf(f);
            double err = Math.abs(f - (double) FloatConversions.halfToFloat(h));
            // no neighbouring half is closer
            for (int d : new int[] {-1, 1}) {
                float n = FloatConversions.halfToFloat((short) (h + d));
                if (!Float.isNaN(n) && !Float.isInfinite(n) && Math.signum(n) == Math.signum(f)) {
                    assertTrue(err <= Math.abs(f - (double) n), f + " -> " + Integer.toHexString(h & 0xffff));
                }
            }
            short b = FloatConversions.floatToBf16(f);
            assertTrue(Math.abs(f - FloatConversions.bf16ToFloat(b)) <= Math.abs(f) / 256);
        }
        assertEquals((short) 0x3f80, FloatConversions.floatToBf16(1f + 0x1p-8f)); // tie to even
        assertEquals((short) 0x3f82, FloatConversions.floatToBf16(1f + 0x3p-8f));
        assertEquals((short) 0x7f80, FloatConversions.floatToBf16(Float.MAX_VALUE)); // rounds up to inf
    }

    // ---- malformed files ----

    private Path rawFile(String name, long headerLen, byte[] header, int dataBytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLen).put(header);
        Path p = tmp.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    private Path withHeader(String json, int dataBytes) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        return rawFile("bad.safetensors", h.length, h, dataBytes);
    }

    private String openError(Path p) {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(p).close());
        assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    private void assertBad(String json, int dataBytes, String... expectedParts) throws IOException {
        String msg = openError(withHeader(json, dataBytes));
        for (String part : expectedParts) {
            assertTrue(msg.contains(part), "'" + msg + "' should contain '" + part + "'");
        }
    }

    @Test
    void rejectsTruncatedFiles() throws IOException {
        Path tiny = tmp.resolve("tiny.safetensors");
        Files.write(tiny, new byte[] {1, 2, 3});
        assertTrue(openError(tiny).contains("shorter than"));

        // cut the reference file in the middle of its data: last tensors now end beyond the data
        byte[] raw = Files.readAllBytes(MODEL);
        Path cut = tmp.resolve("cut.safetensors");
        Files.write(cut, Arrays.copyOf(raw, raw.length / 2));
        assertTrue(openError(cut).contains("beyond the data section"));

        // cut inside the header
        Path cutHeader = tmp.resolve("cuth.safetensors");
        Files.write(cutHeader, Arrays.copyOf(raw, 1000));
        assertTrue(openError(cutHeader).contains("larger than the file"));
    }

    @Test
    void rejectsBadHeaderLength() throws IOException {
        byte[] h = "{}".getBytes(StandardCharsets.UTF_8);
        assertTrue(openError(rawFile("zero.st", 0, h, 0)).contains("not positive"));
        assertTrue(openError(rawFile("neg.st", -5, h, 0)).contains("not positive"));
        assertTrue(openError(rawFile("huge.st", 1L << 40, h, 0)).contains("limit"));
        assertTrue(openError(rawFile("big.st", 500, h, 0)).contains("larger than the file"));
    }

    @Test
    void rejectsBadJson() throws IOException {
        assertBad("garbage!", 0, "not valid JSON");
        assertBad("{\"a\": {\"dtype\": \"F32\"", 0, "not valid JSON");
        assertBad("[1, 2]", 0, "not a JSON object");
        assertBad("{} {}", 0, "not valid JSON");
        String e = "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
        assertBad("{\"a\":" + e + ",\"a\":" + e + "}", 4, "not valid JSON", "a");
        assertBad("{\"__metadata__\":{\"k\":1}}", 0, "__metadata__");
    }

    @Test
    void rejectsBadEntries() throws IOException {
        assertBad("{\"w\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor w", "unknown dtype \"Q7\"");
        assertBad("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor w", "dtype");
        assertBad("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "tensor w", "shape");
        assertBad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "tensor w", "shape");
        assertBad("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "tensor w", "shape");
        assertBad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4, "tensor w", "data_offsets");
        assertBad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "tensor w", "begin > end");
        assertBad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "tensor w", "beyond the data section");
        assertBad("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "tensor w", "needs 12");
        assertBad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlaps");
        assertBad("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
                "tensor w", "overflows");
    }

    @Test
    void acceptsEmptyAndScalarTensors() throws IOException {
        Path p = withHeader("{\"e\":{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[2,2]},"
                + "\"s\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[0,2]}}  ", 2);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(0, f.toFloatArray("e").length);
            assertArrayEquals(new float[] {0f}, f.toFloatArray("s"));
            assertTrue(f.metadata().isEmpty());
        }
    }

    @Test
    void toFloatArrayRejectsIntegers() throws IOException {
        Path p = tmp.resolve("i.safetensors");
        new SafetensorsWriter().add("i", DType.I32, new long[] {1}, new byte[4]).write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> f.toFloatArray("i"));
            assertTrue(e.getMessage().contains("tensor i"), e.getMessage());
        }
    }

    @Test
    void readsF64() throws IOException {
        Path p = tmp.resolve("d.safetensors");
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putDouble(0.1).putDouble(-1e300).flip();
        new SafetensorsWriter().add("d", DType.F64, new long[] {2}, b).write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertArrayEquals(new float[] {0.1f, Float.NEGATIVE_INFINITY}, f.toFloatArray("d"));
        }
    }

    @Test
    void readsTensorsBeyond2GiBInASparseFile() throws IOException {
        long pad = 3L << 30; // a 3 GiB U8 tensor first, then a small one after it
        String json = "{\"pad\":{\"dtype\":\"U8\",\"shape\":[" + pad + "],\"data_offsets\":[0," + pad + "]},"
                + "\"tail\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" + pad + "," + (pad + 8) + "]}}";
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        Path p = tmp.resolve("sparse.safetensors");
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(p,
                java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, h.length), 0);
            ch.write(ByteBuffer.wrap(h), 8);
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, 1.5f).putFloat(4, -3f),
                    8 + h.length + pad);
        }
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertArrayEquals(new float[] {1.5f, -3f}, f.toFloatArray("tail"));
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> f.data("pad"));
            assertTrue(e.getMessage().contains("tensor pad") && e.getMessage().contains("2 GiB"), e.getMessage());
        }
    }
}
