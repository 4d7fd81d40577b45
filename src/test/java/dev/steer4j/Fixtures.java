package dev.steer4j;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.model.HfCheckpoint;
import dev.steer4j.runtime.Devices;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.bytedeco.pytorch.global.torch.ScalarType;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The reference fixtures (copied from shared/reference into test resources) and checks against them. */
public final class Fixtures {
    public static final double TOL = 2e-6;
    public static final Path REFERENCE = Path.of("src/test/resources/reference");
    public static final Path TINY = REFERENCE.resolve("tiny-gpt2");
    public static final Path TRACED = REFERENCE.resolve("tiny-gpt2-traced.pt");
    public static final Path TOKENIZER = REFERENCE.resolve("tokenizer");
    public static final String[] PROMPTS = {"I think dogs are ", "Today I feel", "The capital of France is"};

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, JsonNode> CACHE = new HashMap<>();
    private static Gpt2Model converted;
    private static Gpt2Model traced;

    private Fixtures() {}

    public static synchronized JsonNode expected(String name) {
        return CACHE.computeIfAbsent(name, n -> {
            try (InputStream in = Fixtures.class.getResourceAsStream("/reference/expected/" + n)) {
                return JSON.readTree(in);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    /** The tiny reference checkpoint built as steer4j's own program, float32 on CPU (shared by tests). */
    public static synchronized Gpt2Model converted() {
        if (converted == null) {
            try (HfCheckpoint ck = HfCheckpoint.open(TINY)) {
                converted = Gpt2Model.fromCheckpoint(ck, ScalarType.Float, Devices.parse("cpu"));
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
        return converted;
    }

    /** A model of its own (not the shared one): for tests that close it. */
    public static Gpt2Model freshConverted() {
        try (HfCheckpoint ck = HfCheckpoint.open(TINY)) {
            return Gpt2Model.fromCheckpoint(ck, ScalarType.Float, Devices.parse("cpu"));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The tiny reference model saved as steer4j's {@code .pt} at {@code file}: for tests that load through the API. */
    public static void saveConverted(java.nio.file.Path file) {
        try (Gpt2Model m = freshConverted()) {
            m.save(file);
        }
    }

    /** The traced reference model, a foreign TorchScript GPT-2, with the reference tokenizer. */
    public static synchronized Gpt2Model traced() {
        if (traced == null) {
            traced = Gpt2Model.load(TRACED, TOKENIZER, Devices.parse("cpu"));
        }
        return traced;
    }

    /** One variant of steered_logits.json by name. */
    public static JsonNode steeredVariant(String name) {
        for (JsonNode v : expected("steered_logits.json").get("variants")) {
            if (v.get("name").asText().equals(name)) return v;
        }
        throw new IllegalArgumentException(name);
    }

    public static float[] floats(JsonNode array) {
        float[] out = new float[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = (float) array.get(i).doubleValue();
        return out;
    }

    public static float[][] matrix(JsonNode rows) {
        float[][] out = new float[rows.size()][];
        for (int i = 0; i < out.length; i++) out[i] = floats(rows.get(i));
        return out;
    }

    public static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).intValue();
        return out;
    }

    public static double maxAbsDiff(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, "length");
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            worst = Math.max(worst, Math.abs((double) expected[i] - actual[i]));
        }
        return worst;
    }

    public static void assertClose(float[] expected, float[] actual, double tol, String what) {
        double d = maxAbsDiff(expected, actual);
        assertTrue(d <= tol, what + ": max abs diff " + d + " > " + tol);
    }

    public static void assertClose(float[][] expected, float[][] actual, double tol, String what) {
        assertEquals(expected.length, actual.length, what + " rows");
        for (int i = 0; i < expected.length; i++) assertClose(expected[i], actual[i], tol, what + " row " + i);
    }

    /** The reference's vectors as files: last-token unit, mean, and the [T, d] aligned one. */
    public static void writeVectors(Path dir) {
        JsonNode actadd = expected("actadd.json");
        dev.steer4j.steering.VectorFiles.write(dir.resolve("last.safetensors"),
                dev.steer4j.steering.io.VectorSet.builder().put("transformer.h.1", floats(actadd.get("last_token").get("unit_vector"))).build(), "tiny");
        dev.steer4j.steering.VectorFiles.write(dir.resolve("mean.safetensors"),
                dev.steer4j.steering.io.VectorSet.builder().put("transformer.h.1", floats(actadd.get("mean_vector"))).build(), "tiny");
        float[][] aligned = matrix(actadd.get("steering_vector"));
        float[] flat = new float[aligned.length * aligned[0].length];
        for (int i = 0; i < aligned.length; i++) System.arraycopy(aligned[i], 0, flat, i * aligned[0].length, aligned[i].length);
        dev.steer4j.steering.VectorFiles.write(dir.resolve("aligned.safetensors"),
                dev.steer4j.steering.io.VectorSet.builder().put("transformer.h.1", new int[]{aligned.length, aligned[0].length}, flat).build(), "tiny");
    }
}
