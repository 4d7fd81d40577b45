package dev.steer4j.hooks;

import dev.steer4j.InvalidInputException;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.model.ModuleTree;
import dev.steer4j.runtime.NativeArena;
import dev.steer4j.runtime.Tensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;

/**
 * Deltas added to parameters (bias steering) of one hooked model's clone: each edit owns its delta (in the
 * hooked model's arena), edits of one parameter add up, and the loaded weights are never written.
 */
final class ParameterEdits {
    private final Gpt2Model model;
    private final NativeArena arena;
    private final Runnable changed;
    private final List<Edit> edits = new ArrayList<>();

    /** {@code changed} is told when the set of edits changes (the program must be rebuilt). */
    ParameterEdits(Gpt2Model model, NativeArena arena, Runnable changed) {
        this.model = model;
        this.arena = arena;
        this.changed = changed;
    }

    boolean isEmpty() {
        return edits.isEmpty();
    }

    AutoCloseable add(String path, Tensor delta) {
        int dot = path.lastIndexOf('.');
        JitModule owner = dot < 0 ? null : ModuleTree.find(model.module(), path.substring(0, dot));
        Tensor original = ModuleTree.tensors(model.module()).get(path);
        if (owner == null || original == null) throw new InvalidInputException("unknown parameter '" + path + "'");
        if (!Arrays.equals(Tensors.shape(original), Tensors.shape(delta))) {
            throw new InvalidInputException("parameter " + path + " has shape " + Arrays.toString(Tensors.shape(original))
                    + ", the edit has " + Arrays.toString(Tensors.shape(delta)));
        }
        Tensor own;
        try (Tensor converted = delta.to(model.device(), original.scalar_type())) {
            own = arena.own(converted.clone()); // ours: to() may return the caller's tensor itself
        }
        Edit edit = new Edit(path, own);
        edits.add(edit);
        changed.run();
        return edit;
    }

    /** Sets each edited parameter of {@code clone} to the original plus every delta on it. */
    void applyTo(JitModule clone) {
        Map<String, Tensor> edited = new LinkedHashMap<>();
        for (Edit e : edits) {
            Tensor base = edited.computeIfAbsent(e.path, p -> ModuleTree.tensors(model.module()).get(p));
            edited.put(e.path, base.add(e.delta)); // a new tensor: the loaded weights are never written
        }
        for (var e : edited.entrySet()) {
            int dot = e.getKey().lastIndexOf('.');
            ModuleTree.find(clone, e.getKey().substring(0, dot)).setattr(e.getKey().substring(dot + 1), new IValue(e.getValue()));
        }
    }

    /** Takes back every edit. */
    void clear() {
        for (Edit e : List.copyOf(edits)) e.close();
    }

    /** One edit of a parameter: its own delta, removed by close. */
    private final class Edit implements AutoCloseable {
        final String path;
        final Tensor delta;

        Edit(String path, Tensor delta) {
            this.path = path;
            this.delta = delta;
        }

        @Override
        public void close() {
            if (edits.remove(this)) {
                changed.run();
                arena.free(delta);
            }
        }
    }
}
