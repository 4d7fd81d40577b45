package dev.steer4j.steering;

import dev.steer4j.InvalidInputException;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.request.Positions;
import dev.steer4j.model.ModuleTree;
import dev.steer4j.runtime.Tensors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;

/**
 * Steering by editing a bias instead of hooking: adding {@code u = coeff·v} to a module's output at every
 * position equals adding a constant to a bias downstream of it.
 * <ul>
 *   <li>{@code transformer.h.L}, {@code .mlp}: {@code h.L.mlp.c_proj.bias += u} (the block ends in mlp's c_proj);</li>
 *   <li>{@code transformer.h.L.attn}: {@code h.L.attn.c_proj.bias += u};</li>
 *   <li>{@code transformer.h.L.ln_1}: {@code h.L.attn.c_attn.bias += u·W} (ln_1 feeds only c_attn, {@code y = x W + b});</li>
 *   <li>{@code transformer.h.L.ln_2}: {@code h.L.mlp.c_fc.bias += u·W}.</li>
 * </ul>
 * Only a vector at every position is equivalent: a bias cannot tell positions or batch rows apart.
 */
public final class BiasSteering {
    private static final Pattern MODULE = Pattern.compile("(transformer\\.h\\.\\d+)(\\.(attn|mlp|ln_1|ln_2))?");

    private BiasSteering() {}

    /**
     * Adds to the bias in {@code hm}'s clone (the loaded weights stay as they are); edits of one bias add up,
     * and closing the returned handle takes back this one only.
     */
    public static AutoCloseable apply(HookedModel hm, String module, float[] vector, double coeff, Positions where) {
        if (where.kind() != Positions.Kind.ALL) {
            throw new InvalidInputException("bias steering adds the vector at every position; @" + where
                    + " cannot be expressed as a bias edit (steer with a hook instead)");
        }
        if (!Double.isFinite(coeff)) throw new InvalidInputException("coefficient must be a finite number, got " + coeff);
        if (vector.length != hm.model().width()) {
            throw new InvalidInputException("vector width " + vector.length + " does not match the model width " + hm.model().width());
        }
        Matcher m = MODULE.matcher(module);
        if (!m.matches()) {
            throw new InvalidInputException("bias steering supports transformer.h.L and its attn, mlp, ln_1, ln_2 outputs, not "
                    + module + " (steer with a hook instead)");
        }
        String block = m.group(1);
        String sub = m.group(3) == null ? "" : m.group(3);
        var params = ModuleTree.tensors(hm.model().module());
        String bias = switch (sub) {
            case "", "mlp" -> block + ".mlp.c_proj.bias";
            case "attn" -> block + ".attn.c_proj.bias";
            case "ln_1" -> block + ".attn.c_attn.bias";
            default -> block + ".mlp.c_fc.bias";
        };
        Tensor original = params.get(bias);
        if (original == null) throw new InvalidInputException("model has no parameter " + bias + " for bias steering");
        try (Tensor v = Tensors.floats(vector, new long[]{vector.length}, hm.model().device(), original.scalar_type());
             Tensor u = v.mul(new Scalar(coeff))) {
            if (sub.equals("ln_1") || sub.equals("ln_2")) {
                try (Tensor delta = u.matmul(params.get(bias.replace(".bias", ".weight")))) {
                    return hm.addToParameter(bias, delta);
                }
            }
            return hm.addToParameter(bias, u);
        }
    }
}
