package dev.steer4j.hooks;

import dev.steer4j.request.Positions;
import dev.steer4j.InvalidInputException;
import dev.steer4j.model.ForwardListener;
import dev.steer4j.model.ProgramSource;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.model.Programs;
import dev.steer4j.runtime.NativeArena;
import dev.steer4j.runtime.Tensors;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.bytedeco.pytorch.GenericList;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.ListType;
import org.bytedeco.pytorch.QualifiedName;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.Type;
import org.bytedeco.pytorch.global.torch;

/**
 * Forward hooks on the submodules of a TorchScript model — something PyTorch cannot do for TorchScript.
 *
 * <p>How: the hooks live as TorchScript methods on a small state module; each hooked call site in the
 * caller's graph gets a {@code prim::CallMethod} to its hook inserted after (output hooks) or before
 * (input hooks) the submodule call. The graph is rewritten on a {@code clone(inplace=true)} of the
 * loaded model — new class types, so a fresh executor, and the very same weight tensors — rebuilt only
 * when the set of hooks changes. Vectors and coefficients are device tensors that hooks read at run time,
 * so changing them is an in-place update with no recompilation.
 *
 * <p>One instance per thread: two threads with their own instances share the weights but not the
 * steering state. Not thread-safe itself; building and discarding programs is serialized across the JVM
 * ({@link Programs}). Every tensor and module it keeps is owned by its {@link NativeArena}, and a replaced
 * program is discarded at once, its methods taken out of the model's compilation unit.
 */
public final class HookedModel implements AutoCloseable, ProgramSource {
    private static final AtomicLong IDS = new AtomicLong();
    /** The hook-state module's name on each hooked call's owner. */
    public static final String STATE = "_steer4j_hooks";

    private final Gpt2Model model;
    private final List<Hook> hooks = new ArrayList<>();
    private final ParameterEdits parameterEdits;
    private final NativeArena arena = new NativeArena("hooked model");
    private JitModule built;
    private JitModule state;

    public HookedModel(Gpt2Model model) {
        this.model = model;
        this.parameterEdits = new ParameterEdits(model, arena, this::invalidate);
    }

    public Gpt2Model model() {
        return model;
    }

    /** Hooks the output of {@code module} (element 0 when it returns a tuple). */
    public HookHandle hookOutput(String module, HookOp op) {
        return add(module, false, op);
    }

    /** Hooks the first argument {@code module} is called with. */
    public HookHandle hookInput(String module, HookOp op) {
        return add(module, true, op);
    }

    /** Whether {@code module} is a submodule that some ancestor calls through forward(), so it can be hooked. */
    public static boolean isHookable(Gpt2Model model, String module) {
        try {
            requireCallSites(model, module);
            return true;
        } catch (InvalidInputException e) {
            return false;
        }
    }

    /** An InvalidInputException unless some ancestor calls {@code module} through forward(); the graph walk's handles freed. */
    private static void requireCallSites(Gpt2Model model, String module) {
        try (org.bytedeco.javacpp.PointerScope graphWalk = new org.bytedeco.javacpp.PointerScope()) {
            CallSites.find(model.module(), module);
        }
    }

    /** The module to run: the loaded one when no hooks are set, else the rewritten clone. */
    @Override
    public JitModule module() {
        if (hooks.isEmpty() && parameterEdits.isEmpty()) {
            return model.module();
        }
        if (built == null) {
            build();
        }
        return built;
    }

    /** Drops the current program (the next forward builds one for the current hooks). */
    private void invalidate() {
        JitModule oldProgram = built;
        JitModule oldState = state;
        built = null;
        state = null;
        if (oldProgram != null) Programs.discardClone(oldProgram);
        if (oldState != null) arena.free(oldState);
    }

    /** Feeds the hooks of the current build the rows and positions of each forward pass; call after {@link #module()}. */
    @Override
    public ForwardListener listener() {
        List<Hook> current = List.copyOf(hooks);
        JitModule state = this.state;
        // plain adds and captures read no positions: then skip the two attribute writes per forward
        boolean positional = current.stream().anyMatch(Hook::readsPositions);
        return new ForwardListener() {
            @Override
            public void check(int[][] prompts) {
                for (Hook h : current) h.check(prompts);
            }

            @Override
            public void onStart(Tensor promptLengths) {
                if (state == null || !positional) return;
                try (IValue v = new IValue(promptLengths)) { // a wrapper per call: freed here, not by the GC
                    state.setattr("prompt_lengths", v);
                }
            }

            @Override
            public void onForward(Tensor rows, Tensor positions) {
                if (state == null || !positional) return;
                try (IValue r = new IValue(rows); IValue p = new IValue(positions)) {
                    state.setattr("rows", r);
                    state.setattr("positions", p);
                }
            }
        };
    }

    public List<HookHandle> hooks() {
        return List.copyOf(hooks);
    }

    /** Removes every hook. */
    public void clear() {
        for (Hook h : List.copyOf(hooks)) h.remove();
    }

    /** Removes every hook and every parameter edit: the loaded model runs exactly as loaded again. */
    @Override
    public void close() {
        clear();
        parameterEdits.clear();
        invalidate();
        arena.close();
    }

    /**
     * Runs with {@code delta} added to the parameter at {@code path} (e.g. a bias), in this instance's clone
     * only: the loaded model and other instances keep the original. Edits of one parameter add up; closing
     * the returned handle takes back its own delta only.
     */
    public AutoCloseable addToParameter(String path, Tensor delta) {
        return parameterEdits.add(path, delta);
    }

    private HookHandle add(String module, boolean input, HookOp op) {
        requireCallSites(model, module); // fails now, not at the next forward, if it can't be hooked
        Hook h = new Hook(IDS.incrementAndGet(), module, input, op);
        hooks.add(h);
        invalidate();
        return h;
    }

    private void build() {
        try (dev.steer4j.profile.Profiler.Span s = dev.steer4j.profile.Profiler.span("steering_build")) {
            Built b = Programs.locked(this::buildClone);
            built = b.program(); // discarded by invalidate(), through Programs
            state = arena.own(b.state());
        }
    }

    /** A rewritten clone and the hook-state module its graphs read. */
    private record Built(JitModule program, JitModule state) {}

    /**
     * The program with this instance's hooks in its graphs, built afresh (this instance keeps its own), with
     * each edit's unscaled vector beside what the graph reads. Captures cannot be exported.
     */
    public ExportedProgram exportable() {
        Built b = Programs.locked(this::buildClone);
        List<ExportedProgram.Hook> out = new ArrayList<>();
        for (Hook h : hooks) {
            if (!(h.op instanceof HookOp.VectorOp e)) {
                throw new InvalidInputException("a capture hook (on " + h.module + ") cannot be exported: export edits only");
            }
            String vectorAttr = null;
            if (!(h.op instanceof HookOp.Ablate)) {
                vectorAttr = "vec" + h.id;
                b.state().register_attribute(vectorAttr, GraphRewrite.tensorType(), new IValue(h.vector.clone()), false, false);
            }
            String op = h.op instanceof HookOp.Add ? "add" : h.op instanceof HookOp.Ablate ? "ablate" : "norm_preserving_add";
            out.add(new ExportedProgram.Hook(h.id, h.module, op, e.positions().toString(), e.perRow(), h.coefficient,
                    HookSource.attribute(h.id, h.op), vectorAttr));
        }
        return new ExportedProgram(b.program(), out);
    }

    /** Builds under the compilation lock; every temporary handle is freed when it returns. */
    private Built buildClone() {
        try (org.bytedeco.javacpp.PointerScope temporaries = new org.bytedeco.javacpp.PointerScope()) {
            Built b = buildCloneIn();
            return new Built(NativeArena.detach(b.program()), NativeArena.detach(b.state()));
        }
    }

    private Built buildCloneIn() {
        JitModule clone = model.module().clone(true);
        parameterEdits.applyTo(clone);
        JitModule st = new JitModule(new QualifiedName("__torch__.steer4j.hooks.State" + IDS.incrementAndGet()));
        Tensor empty = torch.zeros(new long[]{0}, new org.bytedeco.pytorch.TensorOptions(torch.ScalarType.Long)
                .device(new org.bytedeco.pytorch.DeviceOptional(model.device())));
        st.register_attribute("rows", GraphRewrite.tensorType(), new IValue(empty), false, false);
        st.register_attribute("positions", GraphRewrite.tensorType(), new IValue(empty), false, false);
        st.register_attribute("prompt_lengths", GraphRewrite.tensorType(), new IValue(empty), false, false);
        for (Hook h : hooks) {
            h.register(st);
            // plain adds are inlined into the caller's graph (insertHookCall) and need no method
            if (!h.isPlainAdd()) st.define(HookSource.method(h.id, h.op));
        }
        // Output hooks inserted right after a call run in reverse order of insertion, so insert them last-first.
        for (int i = hooks.size() - 1; i >= 0; i--) {
            if (!hooks.get(i).input) GraphRewrite.rewrite(clone, st, hooks.get(i).site());
        }
        for (Hook h : hooks) {
            if (h.input) GraphRewrite.rewrite(clone, st, h.site());
        }
        clone.eval();
        return new Built(clone, st);
    }

    /** One hook: its op and the device tensors it reads. */
    private final class Hook implements HookHandle {
        final long id;
        final String module;
        final boolean input;
        HookOp op;
        Tensor vector;      // as given, model dtype, on device
        Tensor applied;     // what the graph reads: coeff·vector, or the unit direction
        double coefficient;

        /** Where and how the graph calls this hook. */
        GraphRewrite.Site site() {
            return new GraphRewrite.Site(id, module, input, isPlainAdd());
        }
        double vectorAbsMax; // the largest |element| of vector, for checkScale
        boolean removed;

        Hook(long id, String module, boolean input, HookOp op) {
            this.id = id;
            this.module = module;
            this.input = input;
            this.op = op;
            if (op instanceof HookOp.VectorOp e) {
                init(e.vector(), e.coefficient(), e.positions(), e.perRow());
            }
        }

        private void init(Tensor v, double coeff, Positions where, boolean perRow) {
            if (!Double.isFinite(coeff)) {
                throw new InvalidInputException("coefficient must be a finite number, got " + coeff);
            }
            checkShape(v, where, perRow);
            // a copy of our own: to() returns the caller's tensor itself when device and dtype already match,
            // and setVector writes into this one in place
            try (Tensor converted = v.to(model.device(), model.dtype())) {
                vector = arena.own(converted.clone());
            }
            vectorAbsMax = absMax(vector);
            checkScale(coeff, vectorAbsMax);
            coefficient = coeff;
            applied = arena.own(torch.empty_like(vector));
            refresh();
        }

        private void checkShape(Tensor v, Positions where, boolean perRow) {
            long d = v.size(v.dim() - 1);
            if (d != model.width()) {
                throw new InvalidInputException("vector width " + d + " does not match the model width " + model.width()
                        + " at " + module);
            }
            boolean aligned = where.kind() == Positions.Kind.ALIGNED;
            int rank = 1 + (aligned ? 1 : 0) + (perRow ? 1 : 0);
            if (v.dim() != rank) {
                String expected = perRow ? (aligned ? "[B, T, d]" : "[B, d]") : aligned ? "[T, d]" : "[d]";
                throw new InvalidInputException("vector for " + module + " has shape " + java.util.Arrays.toString(Tensors.shape(v))
                        + "; expected " + expected);
            }
            try (Tensor finite = v.isfinite().all()) {
                if (!finite.item_bool()) throw new InvalidInputException("vector for " + module + " contains NaN or infinity");
            }
        }

        boolean readsPositions() {
            return !(op instanceof HookOp.Store) && !isPlainAdd();
        }

        boolean isPlainAdd() {
            return op instanceof HookOp.Add a && a.positions().kind() == Positions.Kind.ALL && !a.perRow();
        }

        void check(int[][] prompts) {
            if (vector == null) return;
            Positions where = positions();
            if (where.kind() == Positions.Kind.ALIGNED && !perRow()) {
                for (int[] p : prompts) {
                    if (vector.size(0) > p.length) {
                        throw new InvalidInputException("@aligned vector for " + module + " has " + vector.size(0)
                                + " positions but a prompt has only " + p.length + " tokens");
                    }
                }
            } else if (perRow() && vector.size(0) != prompts.length) {
                throw new InvalidInputException("per-row vectors for " + module + " have " + vector.size(0)
                        + " rows but the batch has " + prompts.length + " prompts");
            }
        }

        private Positions positions() {
            return ((HookOp.VectorOp) op).positions();
        }

        private boolean perRow() {
            return ((HookOp.VectorOp) op).perRow();
        }

        /** Recomputes what the graph reads, in place on the device. */
        private void refresh() {
            try (dev.steer4j.profile.Profiler.Span s = dev.steer4j.profile.Profiler.span("steering_update")) {
                recompute();
            }
        }

        private void recompute() {
            // in place, the wrappers in a scope: no temporaries left for the GC to free
            try (org.bytedeco.javacpp.PointerScope temporaries = new org.bytedeco.javacpp.PointerScope()) {
                if (op instanceof HookOp.Ablate) {
                    applied.copy_(vector).div_(vector.norm(new org.bytedeco.pytorch.ScalarOptional(new Scalar(2.0)),
                            new long[]{-1}, true));
                } else {
                    applied.copy_(vector).mul_(new Scalar(coefficient));
                }
            }
        }

        /**
         * Refuses a coefficient whose product with the vector overflows the model's dtype (1e39 is a finite
         * double but infinite in float32), before anything changes: a host-side check, no device sync.
         */
        private void checkScale(double c, double absMax) {
            if (!(op instanceof HookOp.Ablate) && Math.abs(c) * absMax > -Tensors.lowestFinite(model.dtype())) {
                throw new InvalidInputException("coefficient " + c + " times the vector for " + module + " overflows the model's "
                        + Tensors.floatTypeName(model.dtype()));
            }
        }

        private static double absMax(Tensor t) {
            try (Tensor a = t.abs(); Tensor m = a.max()) {
                return Tensors.toFloats(m)[0];
            }
        }

        void register(JitModule st) {
            if (op instanceof HookOp.Store) {
                st.register_attribute("cap" + id, new Type.TypePtr(ListType.ofTensors()),
                        new IValue(new GenericList(GraphRewrite.tensorType())), false, false);
            } else {
                String name = HookSource.attribute(id, op);
                st.register_attribute(name, GraphRewrite.tensorType(), new IValue(applied), false, false);
            }
        }

        @Override public String module() { return module; }

        @Override
        public void setCoefficient(double c) {
            if (op instanceof HookOp.Store || op instanceof HookOp.Ablate) {
                throw new InvalidInputException("hook on " + module + " has no coefficient");
            }
            if (!Double.isFinite(c)) throw new InvalidInputException("coefficient must be a finite number, got " + c);
            checkScale(c, vectorAbsMax); // a refused coefficient leaves the steering as it was
            coefficient = c;
            refresh();
        }

        @Override
        public void setVector(float[] values, long... shape) {
            try (Tensor v = Tensors.floats(values, shape, model.device(), model.dtype())) {
                setVector(v);
            }
        }

        @Override
        public void setVector(Tensor values) {
            if (op instanceof HookOp.Store) throw new InvalidInputException("capture hook on " + module + " has no vector");
            checkShape(values, positions(), perRow());
            double vMax = absMax(values);
            checkScale(coefficient, vMax);
            vectorAbsMax = vMax;
            if (java.util.Arrays.equals(Tensors.shape(values), Tensors.shape(vector))) {
                vector.copy_(values); // copies (and converts) into our own tensor: the caller's is never aliased
                refresh();
            } else {
                // a new shape (e.g. another aligned length or batch size): swap the attribute, no recompilation
                Tensor oldVector = vector;
                Tensor oldApplied = applied;
                try (Tensor converted = values.to(model.device(), model.dtype())) {
                    vector = arena.own(converted.clone());
                }
                applied = arena.own(torch.empty_like(vector));
                refresh();
                if (state != null && built != null) {
                    try (IValue a = new IValue(applied)) {
                        state.setattr(HookSource.attribute(id, op), a);
                    }
                }
                arena.free(oldVector); // the graph's attribute held its own reference to the old one
                arena.free(oldApplied);
            }
        }

        @Override
        public void setVectorRow(int row, Tensor values) {
            if (!(op instanceof HookOp.VectorOp) || !perRow()) throw new InvalidInputException("hook on " + module + " has no per-row vector");
            if (row < 0 || row >= vector.size(0)) {
                throw new InvalidInputException("row " + row + " is outside the " + vector.size(0) + " rows of the hook on " + module);
            }
            double vMax = Math.max(vectorAbsMax, absMax(values));
            checkScale(coefficient, vMax);
            vectorAbsMax = vMax;
            try (org.bytedeco.javacpp.PointerScope temporaries = new org.bytedeco.javacpp.PointerScope()) {
                Tensor v = vector.select(0, row);
                Tensor a = applied.select(0, row);
                v.copy_(values);
                if (op instanceof HookOp.Ablate) {
                    refresh(); // the unit direction needs every row's norm
                } else {
                    a.copy_(v).mul_(new Scalar(coefficient));
                }
            }
        }

        @Override
        public List<Activation> captured() {
            return captured(Integer.MAX_VALUE);
        }

        @Override
        public List<Activation> captured(int n) {
            if (!(op instanceof HookOp.Store)) throw new InvalidInputException("hook on " + module + " is not a capture");
            List<Activation> out = new ArrayList<>();
            if (state == null || built == null) return out;
            GenericList list = state.attr("cap" + id).toList();
            for (long i = Math.max(0, list.size() - Math.max(0, n)); i < list.size(); i++) {
                try (IValue item = list.get(i)) {
                    Tensor t = item.toTensor(); // a reference into item, which the try keeps alive
                    out.add(new Activation(Tensors.shape(t), Tensors.toFloats(t)));
                }
            }
            return out;
        }

        @Override
        public void clearCaptured() {
            if (state != null && built != null && op instanceof HookOp.Store) {
                state.attr("cap" + id).toList().resize(0);
            }
        }

        @Override
        public void remove() {
            if (removed) return;
            removed = true;
            hooks.remove(this);
            invalidate();
            arena.free(vector);
            arena.free(applied);
        }
    }
}
