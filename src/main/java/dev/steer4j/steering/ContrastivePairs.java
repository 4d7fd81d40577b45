package dev.steer4j.steering;

import dev.steer4j.InvalidInputException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.steer4j.io.IoErrors;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.steering.io.VectorSet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.T_TensorTensor_T;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Steering vectors from a dataset of contrastive pairs, read at each pair's last token, for several
 * modules in one pass: CAA's mean difference, or the first principal component (pca_diff, pca_center)
 * with its sign chosen so that positives project higher than negatives on average.
 */
public final class ContrastivePairs {
    public record Pair(String positive, String negative) {}

    private ContrastivePairs() {}

    /** Reads JSONL lines {@code {"positive": …, "negative": …}}. */
    public static List<Pair> read(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new InvalidInputException("cannot read pairs file " + file + ": " + IoErrors.reason(e));
        }
        ObjectMapper json = new ObjectMapper();
        List<Pair> pairs = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).trim();
            if (line.isEmpty()) continue;
            try {
                JsonNode n = json.readTree(line);
                if (n == null || !n.path("positive").isTextual() || !n.path("negative").isTextual()) {
                    throw new InvalidInputException(file + " line " + (i + 1) + ": expected {\"positive\": …, \"negative\": …}");
                }
                pairs.add(new Pair(n.get("positive").asText(), n.get("negative").asText()));
            } catch (IOException e) {
                throw new InvalidInputException(file + " line " + (i + 1) + ": not valid JSON");
            }
        }
        if (pairs.isEmpty()) throw new InvalidInputException(file + " holds no pairs");
        return pairs;
    }

    public static VectorSet vectors(HookedModel hm, List<Pair> pairs, List<String> modules, PairMethod method,
                                    boolean normalize) {
        if (method != PairMethod.MEAN && pairs.size() < 2) {
            throw new InvalidInputException(method.name().toLowerCase() + " needs at least 2 pairs, got " + pairs.size());
        }
        List<int[]> pos = new ArrayList<>();
        List<int[]> neg = new ArrayList<>();
        for (Pair p : pairs) {
            int[] a = hm.model().tokenizer().encode(p.positive());
            int[] b = hm.model().tokenizer().encode(p.negative());
            if (a.length == 0 || b.length == 0) throw new InvalidInputException("a pair has an empty prompt: " + p);
            pos.add(a);
            neg.add(b);
        }
        Map<String, float[][]> hp = Activations.lastTokens(hm, pos, modules, 16);
        Map<String, float[][]> hn = Activations.lastTokens(hm, neg, modules, 16);
        VectorSet.Builder out = VectorSet.builder()
                .meta("method", method.name().toLowerCase())
                .meta("pairs", Integer.toString(pairs.size()))
                .meta("reduce", "last")
                .meta("normalized", Boolean.toString(normalize || method != PairMethod.MEAN));
        for (String m : modules) {
            float[] v = switch (method) {
                case MEAN -> VectorMath.mean(VectorMath.sub(hp.get(m), hn.get(m)));
                case PCA_DIFF -> orient(firstComponent(VectorMath.sub(hp.get(m), hn.get(m)), "pca_diff at " + m),
                        hp.get(m), hn.get(m));
                case PCA_CENTER -> orient(firstComponent(centered(hp.get(m), hn.get(m)), "pca_center at " + m),
                        hp.get(m), hn.get(m));
            };
            out.put(m, normalize ? VectorMath.unit(v) : v);
        }
        return out.build();
    }

    /** Each activation minus its pair's midpoint: 2N rows. */
    private static float[][] centered(float[][] p, float[][] n) {
        float[][] rows = new float[2 * p.length][];
        for (int i = 0; i < p.length; i++) {
            float[] mid = VectorMath.mean(new float[][]{p[i], n[i]});
            rows[2 * i] = VectorMath.sub(p[i], mid);
            rows[2 * i + 1] = VectorMath.sub(n[i], mid);
        }
        return rows;
    }

    /**
     * Unit first principal component (data centered, as sklearn's PCA does), from the covariance's eigh. Rows with
     * no variance have none (eigh would return an arbitrary unit vector): that is refused, naming {@code what}.
     */
    static float[] firstComponent(float[][] rows, String what) {
        int n = rows.length;
        int d = rows[0].length;
        double[] flat = new double[n * d];
        for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) flat[i * d + j] = rows[i][j];
        try (Tensor x = Tensor.create(flat, n, d);
             Tensor xc = x.sub(x.mean(new long[]{0}, true, new org.bytedeco.pytorch.ScalarTypeOptional()));
             Tensor cov = xc.t().matmul(xc);
             T_TensorTensor_T eig = torch.linalg_eigh(cov);
             Tensor values = eig.get0();
             Tensor topValue = values.select(0, d - 1); // eigenvalues ascend
             Tensor vectors = eig.get1();
             Tensor top = vectors.select(1, d - 1).contiguous()) {
            double scale = 0;
            for (double f : flat) scale += f * f;
            // relative to the data's size, so that rounding noise counts as no variance
            if (topValue.item_double() <= 1e-12 * scale) {
                throw new InvalidInputException(what + ": " + (scale == 0
                        ? "each pair's two prompts give the same activation, so there is no direction to find"
                        : "every pair differs by the same vector, so the differences have no principal component"
                        + " (the mean method gives that vector)"));
            }
            double[] v = new double[d];
            top.data_ptr_double().get(v);
            float[] out = new float[d];
            for (int j = 0; j < d; j++) out[j] = (float) v[j];
            return out;
        }
    }

    /** Flips {@code dir} so that positives project higher than their negatives in most pairs. */
    private static float[] orient(float[] dir, float[][] p, float[][] n) {
        int higher = 0;
        for (int i = 0; i < p.length; i++) {
            if (VectorMath.dot(p[i], dir) > VectorMath.dot(n[i], dir)) higher++;
        }
        if (2 * higher >= p.length) return dir;
        float[] flipped = new float[dir.length];
        for (int j = 0; j < dir.length; j++) flipped[j] = -dir[j];
        return flipped;
    }
}
