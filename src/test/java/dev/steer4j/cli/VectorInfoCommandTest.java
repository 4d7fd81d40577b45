package dev.steer4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import dev.steer4j.safetensors.SafetensorsFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** vector-info against the lens computed by hand (in double) from the reference checkpoint's own weights. */
class VectorInfoCommandTest {
    @Test
    void normsLensAndCosinesMatchTheMathematics(@TempDir Path dir) throws Exception {
        Fixtures.writeVectors(dir);
        float[] last = Fixtures.floats(Fixtures.expected("actadd.json").get("last_token").get("unit_vector"));
        float[] mean = Fixtures.floats(Fixtures.expected("actadd.json").get("mean_vector"));
        JsonNode out = Cli.run("vector-info", "--model", Cli.convertedModel().toString(), "--top", "5", "--json",
                dir.resolve("last.safetensors").toString(), dir.resolve("mean.safetensors").toString()).okJson();
        JsonNode vectors = out.get("vectors");
        assertEquals(2, vectors.size());
        assertEquals("last.safetensors:transformer.h.1", vectors.get(0).get("vector").asText());
        try (SafetensorsFile ck = SafetensorsFile.open(Fixtures.TINY.resolve("model.safetensors"))) {
            float[] w = ck.toFloatArray("transformer.ln_f.weight");
            float[] wte = ck.toFloatArray("transformer.wte.weight");
            float[][] byVector = {last, mean};
            for (int n = 0; n < 2; n++) {
                float[] v = byVector[n];
                JsonNode row = vectors.get(n);
                assertEquals(norm(v), row.get("norm").asDouble(), 1e-9);
                double[] logits = lens(v, w, wte);
                for (String side : List.of("promotes", "suppresses")) {
                    List<Integer> expected = top(logits, 5, side.equals("promotes"));
                    JsonNode got = row.get(side);
                    for (int i = 0; i < 5; i++) {
                        int id = got.get(i).get("id").asInt();
                        assertEquals(logits[id], got.get(i).get("logit").asDouble(), 1e-4, side + " " + i);
                        // equal up to near-ties: the token listed has the logit of the i-th by hand
                        assertEquals(logits[expected.get(i)], logits[id], 1e-4, side + " " + i);
                    }
                }
            }
        }
        double dot = 0;
        for (int i = 0; i < last.length; i++) dot += (double) last[i] * mean[i];
        assertEquals(dot / norm(last) / norm(mean), out.get("cosine").get(0).get("cosine").asDouble(), 1e-9);
        assertTrue(Cli.run("vector-info", "--model", Cli.convertedModel().toString(), dir.resolve("last.safetensors").toString())
                .out().contains("promotes:"));
    }

    @Test
    void badInputIsOneLineAndExit2(@TempDir Path dir) {
        Fixtures.writeVectors(dir);
        String m = Cli.convertedModel().toString();
        assertTrue(Cli.run("vector-info", "--model", m, "--top", "0", dir.resolve("last.safetensors").toString()).badInput()
                .contains("--top must be >= 1"));
        assertTrue(Cli.run("vector-info", "--model", m, dir.resolve("none.safetensors").toString()).badInput().contains("none.safetensors"));
        // a vector of another width: steer4j's vector file of the built-in model (width 128) on the tiny model (32)
        dev.steer4j.steering.VectorFiles.write(dir.resolve("wide.safetensors"),
                dev.steer4j.steering.io.VectorSet.builder().put("transformer.h.1", new float[128]).build(), "x");
        assertTrue(Cli.run("vector-info", "--model", m, dir.resolve("wide.safetensors").toString()).badInput().contains("width 128"));
    }

    static double norm(float[] v) {
        double s = 0;
        for (float x : v) s += (double) x * x;
        return Math.sqrt(s);
    }

    /** GPT-2's final layer norm without its bias (eps 1e-5, the reference config's) and the tied unembedding, in double. */
    static double[] lens(float[] v, float[] w, float[] wte) {
        int d = v.length;
        double mu = 0;
        for (float x : v) mu += x;
        mu /= d;
        double var = 0;
        for (float x : v) var += (x - mu) * (x - mu);
        var /= d;
        double[] h = new double[d];
        for (int i = 0; i < d; i++) h[i] = (v[i] - mu) / Math.sqrt(var + 1e-5) * w[i];
        double[] logits = new double[wte.length / d];
        for (int t = 0; t < logits.length; t++) {
            double s = 0;
            for (int i = 0; i < d; i++) s += wte[t * d + i] * h[i];
            logits[t] = s;
        }
        return logits;
    }

    static List<Integer> top(double[] logits, int k, boolean highest) {
        Comparator<Integer> c = Comparator.comparingDouble(i -> logits[i]);
        return new ArrayList<>(IntStream.range(0, logits.length).boxed().sorted(highest ? c.reversed() : c).limit(k).toList());
    }
}
