package dev.steer4j.steering;

import dev.steer4j.InvalidInputException;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.request.Positions;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.steering.io.VectorSet;
import java.nio.file.Path;

/**
 * {@code FILE[*COEF][@POSITIONS]}: the vectors in FILE (one per module, named by module path), times COEF
 * (default 1), added at POSITIONS (default all). A {@code [T, d]} vector is position-aligned and needs
 * {@code @aligned}.
 */
public record SteerSpec(Path file, double coefficient, Positions positions) {
    public enum Mode { HOOK, BIAS }

    public static SteerSpec parse(String spec) {
        String rest = spec;
        Positions where = Positions.ALL;
        int at = rest.lastIndexOf('@');
        if (at >= 0) {
            where = Positions.parse(rest.substring(at + 1));
            rest = rest.substring(0, at);
        }
        double coeff = 1.0;
        int star = rest.lastIndexOf('*');
        if (star >= 0) {
            String c = rest.substring(star + 1);
            try {
                coeff = Double.parseDouble(c);
            } catch (NumberFormatException e) {
                throw new InvalidInputException("steer spec '" + spec + "': coefficient '" + c + "' is not a number");
            }
            rest = rest.substring(0, star);
        }
        if (!Double.isFinite(coeff)) throw new InvalidInputException("steer spec '" + spec + "': coefficient must be finite");
        if (rest.isEmpty()) throw new InvalidInputException("steer spec '" + spec + "': no file given");
        return new SteerSpec(Path.of(rest), coeff, where);
    }

    /** Registers every vector of the file on {@code hm} (hooks, or bias edits in BIAS mode). */
    public void apply(HookedModel hm, Mode mode) {
        VectorSet set = VectorFiles.read(file);
        for (String module : modules(set, file, positions, null)) {
            int[] shape = set.shape(module);
            boolean aligned = shape.length == 2;
            float[] data = set.data(module);
            if (mode == Mode.BIAS) {
                BiasSteering.apply(hm, module, data, coefficient, positions);
                continue;
            }
            long[] dims = aligned ? new long[]{shape[0], shape[1]} : new long[]{shape[0]};
            hm.hookOutput(module, new HookOp.Add(
                    Tensors.floats(data, dims, hm.model().device(), hm.model().dtype()), coefficient, positions, false));
        }
    }

    /**
     * The modules of {@code set} to steer ({@code only}, or all when null), each checked against
     * {@code where}: a {@code [T, d]} vector is position-aligned and needs {@code aligned}, and only it.
     */
    public static java.util.List<String> modules(VectorSet set, Path file, Positions where, String only) {
        if (only != null && !set.contains(only)) {
            throw new InvalidInputException(file + " has no vector for module '" + only + "' (it has " + String.join(", ", set.names()) + ")");
        }
        java.util.List<String> modules = only == null ? set.names() : java.util.List.of(only);
        for (String module : modules) {
            int[] shape = set.shape(module);
            boolean aligned = shape.length == 2;
            if (aligned != (where.kind() == Positions.Kind.ALIGNED)) {
                throw new InvalidInputException(file + ": vector for " + module + " has shape " + java.util.Arrays.toString(shape)
                        + (aligned ? "; a [T, d] vector is position-aligned: use @aligned" : "; @aligned needs a [T, d] vector"));
            }
        }
        return modules;
    }
}
