package dev.steer4j.steering;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import dev.steer4j.InvalidInputException;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.steering.io.VectorSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static dev.steer4j.Fixtures.TOL;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SteeringVectorsTest {
    static final String H1 = "transformer.h.1";

    static Gpt2Model model(String which) {
        return which.equals("converted") ? Fixtures.converted() : Fixtures.traced();
    }

    @ParameterizedTest
    @ValueSource(strings = {"converted", "traced"})
    void actAddVectorsMatchReference(String which) {
        JsonNode ref = Fixtures.expected("actadd.json");
        try (HookedModel hm = new HookedModel(model(which))) {
            VectorSet none = ActAdd.vector(hm, "Love", "Hate", List.of(H1), Reduce.NONE, 220, false);
            assertEquals(List.of(2, 32), List.of(none.shape(H1)[0], none.shape(H1)[1]));
            Fixtures.assertClose(VectorMath.flatten(Fixtures.matrix(ref.get("steering_vector"))), none.data(H1), TOL, "aligned");
            VectorSet mean = ActAdd.vector(hm, "Love", "Hate", List.of(H1), Reduce.MEAN, 220, false);
            Fixtures.assertClose(Fixtures.floats(ref.get("mean_vector")), mean.data(H1), TOL, "mean");
            VectorSet last = ActAdd.vector(hm, "Love", "Hate", List.of(H1), Reduce.LAST, 220, true);
            float[] unit = Fixtures.floats(ref.get("last_token").get("unit_vector"));
            Fixtures.assertClose(unit, last.data(H1), TOL, "last-token unit");
            assertEquals(1.0, VectorMath.norm(last.data(H1)), 1e-6);
            VectorSet raw = ActAdd.vector(hm, "Love", "Hate", List.of(H1), Reduce.LAST, 220, false);
            assertEquals(ref.get("last_token").get("diff_norm").asDouble(), VectorMath.norm(raw.data(H1)), 2e-6);
        }
    }

    @Test
    void ln1VectorOfTheBiasEditFixture() {
        JsonNode ref = Fixtures.expected("bias_edit.json").get("ln_1_c_attn");
        try (HookedModel hm = new HookedModel(Fixtures.converted())) {
            VectorSet v = ActAdd.vector(hm, "Love", "Hate", List.of("transformer.h.1.ln_1"), Reduce.LAST, 220, true);
            float[] expected = Fixtures.floats(ref.get("unit_vector"));
            // unit-vector entries are up to ~0.5; LayerNorm outputs carry ~1e-6 float32 noise
            Fixtures.assertClose(expected, v.data("transformer.h.1.ln_1"), 4e-6, "ln_1 unit vector");
        }
    }

    /** Pairs whose activations differ along several directions. */
    static List<ContrastivePairs.Pair> pairs() {
        return List.of(new ContrastivePairs.Pair("I love dogs", "I hate dogs"),
                new ContrastivePairs.Pair("What a wonderful day", "What a terrible day"),
                new ContrastivePairs.Pair("She is kind", "She is cruel"),
                new ContrastivePairs.Pair("Great food", "Awful food"),
                new ContrastivePairs.Pair("Peace", "War"));
    }

    @Test
    void meanAndPcaVectorsAgreeWithADirectComputation() {
        List<String> modules = List.of("transformer.h.0", "transformer.h.2");
        try (HookedModel hm = new HookedModel(Fixtures.converted())) {
            // direct: each prompt alone, last token, straight from the per-prompt activations
            Map<String, List<float[]>> pos = new java.util.HashMap<>();
            Map<String, List<float[]>> neg = new java.util.HashMap<>();
            for (String m : modules) { pos.put(m, new ArrayList<>()); neg.put(m, new ArrayList<>()); }
            for (ContrastivePairs.Pair p : pairs()) {
                var a = Activations.of(hm, hm.model().tokenizer().encode(p.positive()), modules);
                var b = Activations.of(hm, hm.model().tokenizer().encode(p.negative()), modules);
                for (String m : modules) {
                    pos.get(m).add(a.get(m)[a.get(m).length - 1]);
                    neg.get(m).add(b.get(m)[b.get(m).length - 1]);
                }
            }
            VectorSet mean = ContrastivePairs.vectors(hm, pairs(), modules, PairMethod.MEAN, false);
            VectorSet pcaDiff = ContrastivePairs.vectors(hm, pairs(), modules, PairMethod.PCA_DIFF, false);
            VectorSet pcaCenter = ContrastivePairs.vectors(hm, pairs(), modules, PairMethod.PCA_CENTER, false);
            for (String m : modules) {
                float[][] p = pos.get(m).toArray(new float[0][]);
                float[][] n = neg.get(m).toArray(new float[0][]);
                float[][] diffs = VectorMath.sub(p, n);
                Fixtures.assertClose(VectorMath.mean(diffs), mean.data(m), 1e-6, "CAA mean " + m);
                checkTopComponent(diffs, pcaDiff.data(m), p, n, "pca_diff " + m);
                float[][] centered = new float[2 * p.length][];
                for (int i = 0; i < p.length; i++) {
                    float[] mid = VectorMath.mean(new float[][]{p[i], n[i]});
                    centered[2 * i] = VectorMath.sub(p[i], mid);
                    centered[2 * i + 1] = VectorMath.sub(n[i], mid);
                }
                checkTopComponent(centered, pcaCenter.data(m), p, n, "pca_center " + m);
            }
        }
    }

    /** Power iteration on the centred data, in double: the same direction up to sign, and the sign orients positives up. */
    private static void checkTopComponent(float[][] rows, float[] got, float[][] p, float[][] n, String what) {
        int d = rows[0].length;
        double[] mu = new double[d];
        for (float[] r : rows) for (int j = 0; j < d; j++) mu[j] += r[j] / (double) rows.length;
        double[] v = new double[d];
        java.util.Random rnd = new java.util.Random(1);
        for (int j = 0; j < d; j++) v[j] = rnd.nextGaussian();
        for (int it = 0; it < 5000; it++) {
            double[] next = new double[d];
            for (float[] r : rows) {
                double proj = 0;
                for (int j = 0; j < d; j++) proj += (r[j] - mu[j]) * v[j];
                for (int j = 0; j < d; j++) next[j] += proj * (r[j] - mu[j]);
            }
            double norm = 0;
            for (double x : next) norm += x * x;
            norm = Math.sqrt(norm);
            for (int j = 0; j < d; j++) v[j] = next[j] / norm;
        }
        double dot = 0;
        for (int j = 0; j < d; j++) dot += v[j] * got[j];
        assertEquals(1.0, Math.abs(dot), 1e-5, what + ": |cos| with the power-iteration component");
        assertEquals(1.0, VectorMath.norm(got), 1e-5, what + " is a unit vector");
        int higher = 0;
        for (int i = 0; i < p.length; i++) if (VectorMath.dot(p[i], got) > VectorMath.dot(n[i], got)) higher++;
        assertTrue(2 * higher >= p.length, what + ": positives project higher in most pairs");
    }

    @Test
    void badVectorRequestsAreClearErrors() {
        try (HookedModel hm = new HookedModel(Fixtures.converted())) {
            assertThrows(InvalidInputException.class, () -> ActAdd.vector(hm, "", "Hate", List.of(H1), Reduce.LAST, 220, true));
            assertThrows(InvalidInputException.class, () -> ActAdd.vector(hm, "Love", "Love", List.of(H1), Reduce.LAST, 220, true));
            assertThrows(InvalidInputException.class, () -> ActAdd.vector(hm, "Love", "Hate", List.of("transformer.h.7"), Reduce.LAST, 220, true));
            assertThrows(InvalidInputException.class, () -> ContrastivePairs.vectors(hm, pairs().subList(0, 1), List.of(H1), PairMethod.PCA_DIFF, false));
        }
    }
}
