package dev.steer4j.steering.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.steer4j.safetensors.FloatConversions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufControlVectorTest {
    @TempDir
    Path tmp;

    static final float[] L3 = {0.25f, -1.5f, 3e-3f};
    static final float[] L1 = {-7f, 0f, 1e10f};

    /** Little-endian byte builder for hand-made files; shares no code with the writer. */
    static final class Bytes {
        final ByteBuffer b = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);

        Bytes raw(byte... v) {
            b.put(v);
            return this;
        }

        Bytes u32(int v) {
            b.putInt(v);
            return this;
        }

        Bytes u64(long v) {
            b.putLong(v);
            return this;
        }

        Bytes str(String s) {
            byte[] v = s.getBytes(StandardCharsets.UTF_8);
            return u64(v.length).raw(v);
        }

        Bytes f32(float... v) {
            for (float f : v) {
                b.putFloat(f);
            }
            return this;
        }

        Bytes f16(float... v) {
            for (float f : v) {
                b.putShort(FloatConversions.floatToHalf(f));
            }
            return this;
        }

        Bytes zeros(int n) {
            return raw(new byte[n]);
        }

        int pos() {
            return b.position();
        }

        byte[] done() {
            return Arrays.copyOf(b.array(), b.position());
        }
    }

    /**
     * What repeng's {@code ControlVector(model_type="gpt2", directions={3: L3, 1: L1}).export_gguf}
     * writes through gguf-py's GGUFWriter: header, the three KVs in insertion order (the writer
     * adds general.architecture first), tensor infos in dict order (repeng's default layer list
     * runs from the last layer down, so 3 before 1), zero padding to 32, each tensor padded to 32.
     */
    static byte[] repengFile(int[] order) {
        Bytes f = new Bytes();
        f.raw((byte) 'G', (byte) 'G', (byte) 'U', (byte) 'F').u32(3).u64(2).u64(3);
        assertEquals(24, f.pos());
        f.str("general.architecture").u32(8).str("controlvector");
        f.str("controlvector.model_hint").u32(8).str("gpt2");
        f.str("controlvector.layer_count").u32(4).u32(2);
        assertEquals(166, f.pos());
        long offset = 0;
        for (int layer : order) {
            // name, n_dims, dims (innermost first), ggml type F32 = 0, offset into the data section
            f.str("direction." + layer).u32(1).u64(3).u32(0).u64(offset);
            offset += 32; // 12 bytes padded to the 32-byte alignment
        }
        assertEquals(252, f.pos());
        f.zeros(4);
        for (int layer : order) {
            f.f32(layer == 3 ? L3 : L1).zeros(20);
        }
        assertEquals(320, f.pos());
        return f.done();
    }

    static final int[] REPENG_ORDER = {3, 1};

    Path file(String name, byte[] bytes) throws IOException {
        Path p = tmp.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    @Test
    void readsRepengExportByHand() throws IOException {
        VectorSet s = GgufControlVector.read(file("repeng.gguf", repengFile(REPENG_ORDER)));
        // direction.k steers the output of block k (0-based): transformer.h.k, in layer order
        assertEquals(List.of("transformer.h.1", "transformer.h.3"), s.names());
        assertArrayEquals(L1, s.data("transformer.h.1"));
        assertArrayEquals(L3, s.data("transformer.h.3"));
        assertArrayEquals(new int[] {3}, s.shape("transformer.h.3"));
        assertEquals(Map.of("general.architecture", "controlvector", "controlvector.model_hint", "gpt2",
                "controlvector.layer_count", "2"), s.metadata());
    }

    @Test
    void writerMatchesHandBuiltBytes() throws IOException {
        VectorSet s = VectorSet.builder().put("transformer.h.3", L3).put("transformer.h.1", L1).build();
        Path p = tmp.resolve("w.gguf");
        GgufControlVector.write(p, s, "gpt2");
        // the writer orders layers ascending; otherwise byte-for-byte what gguf-py writes
        assertArrayEquals(repengFile(new int[] {1, 3}), Files.readAllBytes(p));
        try (var files = Files.list(tmp)) {
            assertEquals(List.of(p), files.toList());
        }
    }

    @Test
    void roundTrip() throws IOException {
        float[] big = new float[768];
        for (int i = 0; i < big.length; i++) {
            big[i] = (float) Math.cos(i * 0.37) / (i + 1);
        }
        big[5] = Float.intBitsToFloat(0x7fc00001);
        big[6] = -0f;
        VectorSet.Builder b = VectorSet.builder().meta("method", "pca_diff").meta("prompts", "happy|sad");
        for (int k = 11; k >= 1; k -= 2) {
            float[] v = big.clone();
            v[0] = k;
            b.put("transformer.h." + k, v);
        }
        VectorSet s = b.build();
        Path p = tmp.resolve("rt.gguf");
        GgufControlVector.write(p, s, "gpt2");
        VectorSet back = GgufControlVector.read(p);
        assertEquals(List.of("transformer.h.1", "transformer.h.3", "transformer.h.5", "transformer.h.7",
                "transformer.h.9", "transformer.h.11"), back.names());
        for (String n : s.names()) {
            assertArrayEquals(SteeringVectorFileTest.bits(s.data(n)), SteeringVectorFileTest.bits(back.data(n)));
        }
        assertEquals("pca_diff", back.metadata().get("method"));
        assertEquals("happy|sad", back.metadata().get("prompts"));
        assertEquals("gpt2", back.metadata().get("controlvector.model_hint"));
        assertEquals("6", back.metadata().get("controlvector.layer_count"));
        // reading back and writing again gives the same file: reserved keys are not duplicated
        Path p2 = tmp.resolve("rt2.gguf");
        GgufControlVector.write(p2, back, "gpt2");
        assertArrayEquals(Files.readAllBytes(p), Files.readAllBytes(p2));
        assertEquals(0, Files.size(p) % 32);
    }

    @Test
    void readsF16AndCvectorGeneratorInt32LayerCount() throws IOException {
        // llama.cpp's cvector-generator stores layer_count as int32 (type 5)
        Bytes f = new Bytes();
        f.raw("GGUF".getBytes(StandardCharsets.US_ASCII)).u32(3).u64(1).u64(4);
        f.str("general.architecture").u32(8).str("controlvector");
        f.str("controlvector.model_hint").u32(8).str("gpt2");
        f.str("controlvector.layer_count").u32(5).u32(1);
        f.str("general.alignment").u32(4).u32(64);
        f.str("direction.4").u32(1).u64(3).u32(1).u64(0);
        f.zeros(64 - f.pos() % 64);
        f.f16(1.5f, -2f, 65504f);
        VectorSet s = GgufControlVector.read(file("f16.gguf", f.done()));
        assertEquals(List.of("transformer.h.4"), s.names());
        assertArrayEquals(new float[] {1.5f, -2f, 65504f}, s.data("transformer.h.4"));
        assertEquals("1", s.metadata().get("controlvector.layer_count"));
        assertFalse(s.metadata().containsKey("general.alignment"));
    }

    @Test
    void readsVersion2AndSkipsArrays() throws IOException {
        Bytes f = new Bytes();
        f.raw("GGUF".getBytes(StandardCharsets.US_ASCII)).u32(2).u64(1).u64(2);
        f.str("some.floats").u32(9).u32(6).u64(2).f32(1, 2);
        f.str("some.strings").u32(9).u32(8).u64(2).str("a").str("bc");
        f.str("direction.2").u32(1).u64(2).u32(0).u64(0);
        f.zeros(32 - f.pos() % 32);
        f.f32(5, 6);
        VectorSet s = GgufControlVector.read(file("v2.gguf", f.done()));
        assertArrayEquals(new float[] {5, 6}, s.data("transformer.h.2"));
        assertEquals(Map.of(), s.metadata());
    }

    private void assertRejected(byte[] bytes, String... fragments) throws IOException {
        Path p = file("bad.gguf", bytes);
        dev.steer4j.InvalidInputException e = assertThrows(dev.steer4j.InvalidInputException.class, () -> GgufControlVector.read(p));
        assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), e.getMessage());
        }
    }

    private static byte[] patched(byte[] good, int at, byte... v) {
        byte[] b = good.clone();
        System.arraycopy(v, 0, b, at, v.length);
        return b;
    }

    private static byte[] le32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
    }

    private static byte[] le64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    // offsets in repengFile: version at 4, tensor count at 8; first tensor info at 166:
    // name 8+11 -> n_dims at 185, dim at 189, type at 197, offset at 201
    @Test
    void rejectsBadMagic() throws IOException {
        assertRejected(patched(repengFile(REPENG_ORDER), 0, (byte) 'G', (byte) 'G', (byte) 'M', (byte) 'L'), "magic");
        assertRejected(new byte[0], "truncated");
    }

    @Test
    void rejectsWrongVersion() throws IOException {
        byte[] good = repengFile(REPENG_ORDER);
        assertRejected(patched(good, 4, le32(1)), "version 1");
        assertRejected(patched(good, 4, le32(4)), "version 4");
        assertRejected(patched(good, 4, le32(Integer.reverseBytes(3))), "big-endian");
    }

    @Test
    void rejectsEveryTruncation() throws IOException {
        byte[] good = repengFile(REPENG_ORDER);
        // the last tensor's data ends at 256 + 32 + 12; only its trailing padding is optional
        for (int n = 0; n < 300; n++) {
            assertRejected(Arrays.copyOf(good, n));
        }
        assertEquals(2, GgufControlVector.read(file("ok.gguf", Arrays.copyOf(good, 300))).size());
    }

    @Test
    void rejectsOffsetBeyondFile() throws IOException {
        byte[] good = repengFile(REPENG_ORDER);
        assertRejected(patched(good, 201, le64(320)), "beyond the end");
        assertRejected(patched(good, 201, le64(-32)), "beyond the end");
        assertRejected(patched(good, 201, le64(4)), "alignment");
        assertRejected(patched(good, 201, le64(32)), "overlaps");
    }

    @Test
    void rejectsUnknownTypes() throws IOException {
        byte[] good = repengFile(REPENG_ORDER);
        assertRejected(patched(good, 197, le32(2)), "ggml type 2"); // Q4_0
        // first KV's value type sits after its 8 + 20 byte key
        assertRejected(patched(good, 52, le32(13)), "unknown metadata value type 13");
    }

    @Test
    void rejectsImplausibleCountsAndShapes() throws IOException {
        byte[] good = repengFile(REPENG_ORDER);
        assertRejected(patched(good, 8, le64(1L << 40)), "tensor count");
        assertRejected(patched(good, 8, le64(-1)), "tensor count");
        assertRejected(patched(good, 24, le64(1L << 40)), "metadata key length");
        assertRejected(patched(good, 185, le32(0)), "dimensions");
        assertRejected(patched(good, 189, le64(0)), "width");
        assertRejected(patched(good, 189, le64(2)), "width"); // differs from the other tensor
        assertRejected(patched(good, 174, (byte) 'X'), "direction.<layer>"); // "Xirection.3"
    }

    @Test
    void rejectsOtherArchitectures() throws IOException {
        byte[] good = repengFile(REPENG_ORDER);
        // "controlvector" value starts at 24 + 8 + 20 + 4 + 8 = 64
        assertRejected(patched(good, 64, "llamavector!!".getBytes(StandardCharsets.US_ASCII)), "architecture");
    }

    @Test
    void corruptBytesNeverEscapeAsOtherExceptions() throws IOException {
        byte[] good = repengFile(REPENG_ORDER);
        Path p = tmp.resolve("fuzz.gguf");
        for (int i = 0; i < 256; i++) {
            for (byte v : new byte[] {0, (byte) 0xff, (byte) 0x80, 0x7f, 1}) {
                Files.write(p, patched(good, i, v));
                try {
                    GgufControlVector.read(p);
                } catch (dev.steer4j.InvalidInputException expected) {
                    assertFalse(expected.getMessage().contains("\n"));
                }
            }
        }
    }

    @Test
    void writeRejectsWhatLlamaCppCannotLoad() {
        Path p = tmp.resolve("x.gguf");
        VectorSet ok = VectorSet.builder().put("transformer.h.1", L1).build();
        assertThrows(dev.steer4j.InvalidInputException.class, () -> GgufControlVector.write(p,
                VectorSet.builder().put("transformer.h.1.mlp", L1).build(), "gpt2"));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> GgufControlVector.write(p,
                VectorSet.builder().put("transformer.h.01", L1).build(), "gpt2"));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> GgufControlVector.write(p,
                VectorSet.builder().put("transformer.h.0", L1).build(), "gpt2"));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> GgufControlVector.write(p,
                VectorSet.builder().put("transformer.h.2", new int[] {2, 3}, new float[6]).build(), "gpt2"));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> GgufControlVector.write(p, VectorSet.builder().build(), "gpt2"));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> GgufControlVector.write(p, ok, " "));
        assertFalse(Files.exists(p));
    }
}
