package dev.steer4j.steering;

import dev.steer4j.InvalidInputException;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.model.ModuleTree;
import dev.steer4j.runtime.Tensors;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * What a steering vector says in tokens: a logit lens of the vector alone, through the model's own final layer
 * norm ({@code transformer.ln_f}) and unembedding ({@code lm_head}), as if it were the last residual stream, less
 * the lens of a zero vector: the layer norm's bias would otherwise add the same tokens to every vector's list. The
 * tokens with the highest logits are those it promotes, the lowest those it suppresses.
 */
public final class VectorLens {
    /** A token and its logit under the lens. */
    public record Token(int id, String text, double logit) {}

    private VectorLens() {}

    /** The lens's logits of {@code vector} ({@code [vocab]}), run by the model's own modules on its device. */
    public static float[] logits(Gpt2Model model, float[] vector) {
        if (vector.length != model.width()) {
            throw new InvalidInputException("a vector of width " + vector.length + " on a model of width " + model.width());
        }
        try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
            Tensor v = Tensors.floats(vector, new long[]{1, vector.length}, model.device(), model.dtype());
            Tensor both = torch.cat(new TensorVector(v, torch.zeros_like(v))); // the vector, and zero: ln_f gives its bias
            Tensor normed = ModuleTree.find(model.module(), "transformer.ln_f").forward(new IValueVector(new IValue(both))).toTensor();
            Tensor logits = ModuleTree.find(model.module(), "lm_head").forward(new IValueVector(new IValue(normed))).toTensor();
            return Tensors.toFloats(logits.select(0, 0).sub(logits.select(0, 1)));
        }
    }

    /** The {@code k} tokens with the highest ({@code promoted}) or lowest logits, in that order. */
    public static List<Token> top(Gpt2Model model, float[] logits, int k, boolean promoted) {
        Comparator<Integer> byLogit = Comparator.comparingDouble(i -> logits[i]);
        List<Token> out = new ArrayList<>();
        IntStream.range(0, logits.length).boxed().sorted(promoted ? byLogit.reversed() : byLogit).limit(k)
                .forEach(i -> out.add(new Token(i, model.tokenizer().decode(new int[]{i}), logits[i])));
        return out;
    }

    /** The Euclidean norm. */
    public static double norm(float[] v) {
        double s = 0;
        for (float x : v) s += (double) x * x;
        return Math.sqrt(s);
    }

    /** Cosine similarity; 0 when either vector is zero. */
    public static double cosine(float[] a, float[] b) {
        if (a.length != b.length) throw new InvalidInputException("vectors of width " + a.length + " and " + b.length + " cannot be compared");
        double dot = 0;
        for (int i = 0; i < a.length; i++) dot += (double) a[i] * b[i];
        double n = norm(a) * norm(b);
        return n == 0 ? 0 : dot / n;
    }
}
