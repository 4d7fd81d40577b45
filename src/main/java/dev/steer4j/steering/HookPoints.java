package dev.steer4j.steering;

import dev.steer4j.InvalidInputException;
import dev.steer4j.hooks.HookHandle;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * TransformerLens hook-point names on top of the module paths:
 * {@code blocks.L.hook_resid_pre} = input of {@code transformer.h.L}, {@code hook_resid_post} = its output,
 * {@code hook_attn_out} / {@code hook_mlp_out} = output of {@code .attn} / {@code .mlp}, and
 * {@code hook_resid_mid} = the residual between attention and MLP (input of {@code .ln_2}; edits to it are
 * made where it is formed, on the attention output, which is the same thing for an addition).
 */
public final class HookPoints {
    private static final Pattern NAME = Pattern.compile(
            "blocks\\.(\\d+)\\.hook_(resid_pre|resid_mid|resid_post|attn_out|mlp_out)");

    /** A hook point resolved to a module and a side. */
    public record Point(String module, boolean input) {}

    private HookPoints() {}

    /** A TransformerLens name, or a module path as it is (output side). */
    public static Point resolve(String name, boolean forEdit, HookOp op) {
        Matcher m = NAME.matcher(name);
        if (!m.matches()) {
            if (name.startsWith("blocks.")) throw new InvalidInputException("unknown hook point '" + name + "'");
            return new Point(name, false);
        }
        String block = "transformer.h." + m.group(1);
        return switch (m.group(2)) {
            case "resid_pre" -> new Point(block, true);
            case "resid_post" -> new Point(block, false);
            case "attn_out" -> new Point(block + ".attn", false);
            case "mlp_out" -> new Point(block + ".mlp", false);
            default -> {
                if (!forEdit || op instanceof HookOp.Store) yield new Point(block + ".ln_2", true);
                if (op instanceof HookOp.Add) yield new Point(block + ".attn", false);
                throw new InvalidInputException("hook_resid_mid can be read or added to, not ablated or rescaled: it is not"
                        + " a module boundary");
            }
        };
    }

    /** Registers {@code op} at a TransformerLens hook point or module path. */
    public static HookHandle hook(HookedModel hm, String name, HookOp op) {
        Point p = resolve(name, !(op instanceof HookOp.Store), op);
        return p.input() ? hm.hookInput(p.module(), op) : hm.hookOutput(p.module(), op);
    }
}
