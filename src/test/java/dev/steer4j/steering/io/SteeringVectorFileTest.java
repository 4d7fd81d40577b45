package dev.steer4j.steering.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.steer4j.safetensors.DType;
import dev.steer4j.safetensors.SafetensorsFile;
import dev.steer4j.safetensors.SafetensorsWriter;
import dev.steer4j.safetensors.TensorInfo;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SteeringVectorFileTest {
    @TempDir
    Path tmp;

    static final float[] ODD = {
        0f, -0f, 1.5f, -3.25e-7f, Float.MIN_VALUE, Float.MAX_VALUE, Float.NEGATIVE_INFINITY,
        Float.intBitsToFloat(0x7fc12345), Float.intBitsToFloat(0x00000abc)
    };

    static int[] bits(float[] f) {
        int[] out = new int[f.length];
        for (int i = 0; i < f.length; i++) {
            out[i] = Float.floatToRawIntBits(f[i]);
        }
        return out;
    }

    @Test
    void roundTripIsBitExact() throws IOException {
        float[] rows = new float[2 * ODD.length];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = (float) Math.sin(i) * 1e3f;
        }
        VectorSet set = VectorSet.builder()
                .put("transformer.h.10", ODD)
                .put("transformer.h.2", new int[] {2, ODD.length}, rows)
                .meta("method", "mean_diff")
                .meta("prompts", "Love\u2764|Hate")
                .meta("model_sha256", "ab".repeat(32))
                .build();
        Path p = tmp.resolve("v.safetensors");
        SteeringVectorFile.write(p, set);
        VectorSet back = SteeringVectorFile.read(p);

        // names come back in numeric layer order, whatever order the file stores them in
        assertEquals(List.of("transformer.h.2", "transformer.h.10"), back.names());
        assertArrayEquals(new int[] {ODD.length}, back.shape("transformer.h.10"));
        assertArrayEquals(new int[] {2, ODD.length}, back.shape("transformer.h.2"));
        assertArrayEquals(bits(ODD), bits(back.data("transformer.h.10")));
        assertArrayEquals(bits(rows), bits(back.data("transformer.h.2")));
        assertEquals(set.metadata(), back.metadata());

        // the file itself is plain F32 safetensors, one tensor per module
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            TensorInfo t = f.info("transformer.h.2");
            assertEquals(DType.F32, t.dtype());
            assertArrayEquals(new long[] {2, ODD.length}, t.shape());
            assertEquals("mean_diff", f.metadata().get("method"));
        }
        // no temp files left behind
        try (var files = Files.list(tmp)) {
            assertEquals(List.of(p), files.toList());
        }
    }

    @Test
    void readsHalfPrecision() throws IOException {
        Path p = tmp.resolve("h.safetensors");
        new SafetensorsWriter()
                .addF16("transformer.h.0", new long[] {3}, new float[] {1, -2, 0.5f})
                .addBF16("transformer.h.1", new long[] {3}, new float[] {3, 4, -0.25f})
                .write(p);
        VectorSet s = SteeringVectorFile.read(p);
        assertArrayEquals(new float[] {1, -2, 0.5f}, s.data("transformer.h.0"));
        assertArrayEquals(new float[] {3, 4, -0.25f}, s.data("transformer.h.1"));
        assertEquals(Map.of(), s.metadata());
    }

    private void assertRejected(Path p, String... fragments) {
        dev.steer4j.InvalidInputException e = assertThrows(dev.steer4j.InvalidInputException.class, () -> SteeringVectorFile.read(p));
        assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), e.getMessage());
        }
    }

    @Test
    void rejectsRank3() throws IOException {
        Path p = tmp.resolve("r3.safetensors");
        new SafetensorsWriter().addF32("transformer.h.0", new long[] {1, 2, 3}, new float[6]).write(p);
        assertRejected(p, "rank 3");
    }

    @Test
    void rejectsScalar() throws IOException {
        Path p = tmp.resolve("r0.safetensors");
        new SafetensorsWriter().addF32("transformer.h.0", new long[] {}, new float[1]).write(p);
        assertRejected(p, "rank 0");
    }

    @Test
    void rejectsMismatchedWidths() throws IOException {
        Path p = tmp.resolve("w.safetensors");
        new SafetensorsWriter()
                .addF32("transformer.h.0", new long[] {4}, new float[4])
                .addF32("transformer.h.1", new long[] {2, 5}, new float[10])
                .write(p);
        assertRejected(p, "width");
    }

    @Test
    void rejectsEmpty() throws IOException {
        Path p = tmp.resolve("e.safetensors");
        new SafetensorsWriter().putMetadata("method", "x").write(p);
        assertRejected(p, "no tensors");
        assertThrows(dev.steer4j.InvalidInputException.class,
                () -> SteeringVectorFile.write(tmp.resolve("out.safetensors"), VectorSet.builder().build()));
        assertFalse(Files.exists(tmp.resolve("out.safetensors")));
    }

    @Test
    void rejectsIntegerTensors() throws IOException {
        Path p = tmp.resolve("i.safetensors");
        new SafetensorsWriter().add("transformer.h.0", DType.I32, new long[] {2}, new byte[8]).write(p);
        assertRejected(p, "I32");
    }

    @Test
    void rejectsGarbage() throws IOException {
        Path p = tmp.resolve("g.safetensors");
        Files.write(p, "definitely not safetensors".getBytes(StandardCharsets.UTF_8));
        assertRejected(p);
    }
}
