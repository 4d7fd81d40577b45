package dev.steer4j.model;

import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.ClassType;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;

/**
 * Walks a TorchScript module's submodules and parameters by dotted path ({@code transformer.h.0.attn}).
 *
 * <p>Reads names from the class type's attribute table rather than {@code named_modules()}, whose names
 * come back null through the presets. Tensors are returned as handles of their own: {@code IValue.toTensor()}
 * is a reference that dies with its IValue.
 */
public final class ModuleTree {
    private ModuleTree() {}

    /** Every submodule below {@code root} (not root itself), in definition order, by dotted path. */
    public static Map<String, JitModule> modules(JitModule root) {
        Map<String, JitModule> out = new LinkedHashMap<>();
        collectModules(root, "", out);
        return out;
    }

    /** Every parameter and buffer below {@code root}, by dotted path. */
    public static Map<String, Tensor> tensors(JitModule root) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collectTensors(root, "", out);
        return out;
    }

    /** The submodule at a dotted path, or null. */
    public static JitModule find(JitModule root, String path) {
        JitModule m = root;
        if (path.isEmpty()) {
            return root;
        }
        for (String part : path.split("\\.", -1)) {
            if (!m.hasattr(part)) {
                return null;
            }
            IValue v = m.attr(part);
            if (!v.isModule()) {
                return null;
            }
            m = new JitModule(v.toObject());
        }
        return m;
    }

    private static void collectModules(JitModule m, String prefix, Map<String, JitModule> out) {
        ClassType type = m.type();
        for (long i = 0; i < type.numAttributes(); i++) {
            String name = type.getAttributeName(i).getString();
            IValue v = m.attr(name);
            if (v.isModule()) {
                String path = prefix + name;
                JitModule child = new JitModule(v.toObject());
                out.put(path, child);
                collectModules(child, path + ".", out);
            }
        }
    }

    private static void collectTensors(JitModule m, String prefix, Map<String, Tensor> out) {
        ClassType type = m.type();
        for (long i = 0; i < type.numAttributes(); i++) {
            String name = type.getAttributeName(i).getString();
            IValue v = m.attr(name);
            if (v.isModule()) {
                collectTensors(new JitModule(v.toObject()), prefix + name + ".", out);
            } else if (v.isTensor()) {
                // toTensor() is a reference into the IValue: copy the handle so it outlives it
                out.put(prefix + name, new Tensor(v.toTensor()));
                java.lang.ref.Reference.reachabilityFence(v);
            }
        }
    }
}
