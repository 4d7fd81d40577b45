package dev.steer4j.generate;

import dev.steer4j.request.Sampling;
import dev.steer4j.model.ProgramSource;
import dev.steer4j.model.ForwardListener;
import dev.steer4j.InvalidInputException;
import dev.steer4j.MemoryLimitException;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.profile.Profiler;
import dev.steer4j.runtime.MemoryBudget;
import dev.steer4j.runtime.Tensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntConsumer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Tensor;

/**
 * Prefill logits of a batch of prompts under a program's current hooks (any model: {@link CachedPrefill} for steer4j
 * programs, {@link RecomputeDecoder} for foreign ones), and generation for foreign models: all prompts as one batch,
 * each row stopping at EOS or its own token limit. A steer4j program generates on the engine instead.
 */
public final class Generator {
    private final Gpt2Model model;
    private final ProgramSource source;
    private boolean stopAtEos = true;

    /** Runs what {@code source} gives at each call: the current hooks, never a snapshot. */
    public Generator(Gpt2Model model, ProgramSource source) {
        this.model = model;
        this.source = source;
    }

    /** The model without hooks. */
    public Generator(Gpt2Model model) {
        this(model, new ProgramSource() {
            @Override public JitModule module() { return model.module(); }

            @Override public ForwardListener listener() { return ForwardListener.NONE; }
        });
    }

    /** Runs every row for exactly the requested number of tokens, through EOS (benchmarks, reference runs). */
    public Generator ignoringEos() {
        stopAtEos = false;
        return this;
    }

    /** Encodes prompts, checking they are non-empty and fit the context with the new tokens. */
    public int[][] encode(List<String> prompts, int maxNewTokens) {
        try (Profiler.Span s = Profiler.span("tokenize")) {
            int[][] ids = new int[prompts.size()][];
            for (int i = 0; i < ids.length; i++) ids[i] = encode(model, prompts.get(i), maxNewTokens);
            return ids;
        }
    }

    /** One prompt's ids, checked to be non-empty and to fit the context with {@code maxNewTokens} new tokens. */
    public static int[] encode(Gpt2Model model, String prompt, int maxNewTokens) {
        int[] ids = model.tokenizer().encode(prompt);
        checkFits(model, prompt, ids.length, maxNewTokens);
        return ids;
    }

    private static void checkFits(Gpt2Model model, String prompt, int length, int maxNewTokens) {
        if (length == 0) {
            throw new InvalidInputException("prompt \"" + prompt + "\" encodes to no tokens");
        }
        if (length + maxNewTokens > model.maxPositions()) {
            throw new InvalidInputException("prompt \"" + abbreviate(prompt) + "\" has " + length + " tokens; with "
                    + maxNewTokens + " new tokens that exceeds the model's " + model.maxPositions() + " positions");
        }
    }

    /**
     * Refuses, before anything is allocated, a batch of {@code rows} prompts (the longest {@code width} tokens) with
     * {@code maxNewTokens} new tokens that a steer4j program cannot run here: on the model's device its KV cache of
     * width + new tokens columns, key padding, the prompt tensors and the last position's logits; on the Java heap
     * those logits as floats (read, then split by row) and the prompts. Activations of a forward pass are not counted,
     * nor is anything for a foreign model (no KV cache: it recomputes every step).
     */
    public static void requireBatchMemory(Gpt2Model model, int rows, int width, int maxNewTokens) {
        if (model.kind() != Gpt2Model.Kind.STEER4J) return;
        String subject = "a batch of " + rows + " prompts";
        long columns = (long) width + maxNewTokens;
        long cache = model.kvCacheBytes(rows, columns);
        long logits = model.logitsBytes(rows);
        long inputs = MemoryBudget.product(rows, width, 3 * Long.BYTES); // ids, positions, hook positions
        MemoryBudget.require(subject, "its KV cache (" + MemoryLimitException.human(cache) + ": " + columns + " columns, "
                        + model.layers() + " layers, width " + model.width() + ", " + Tensors.floatTypeName(model.dtype())
                        + ") and its logits (" + MemoryLimitException.human(logits) + ")",
                MemoryBudget.sum(cache, MemoryBudget.product(rows, columns), inputs, logits), MemoryBudget.forTensors(model.device()));
        long heap = MemoryBudget.sum(MemoryBudget.product(rows, model.vocabSize(), 2 * Float.BYTES),
                MemoryBudget.product(rows, width, Integer.BYTES));
        MemoryBudget.requireHeap(subject, "its logits as floats", heap);
    }

    /** The program as it stands now; asked before any inference mode or pointer scope opens, since it may build. */
    private record Program(JitModule module, ForwardListener listener) {}

    private Program program() {
        return new Program(source.module(), source.listener());
    }

    private Decoder decoder(Program program, int[][] prompts, int maxNewTokens) {
        if (prompts.length == 0) {
            throw new InvalidInputException("no prompts given");
        }
        for (int[] p : prompts) checkFits(model, Arrays.toString(p), p.length, maxNewTokens);
        int width = 0;
        for (int[] p : prompts) width = Math.max(width, p.length);
        requireBatchMemory(model, prompts.length, width, maxNewTokens);
        JitModule module = program.module();
        ForwardListener listener = program.listener();
        listener.check(prompts);
        return model.kind() == Gpt2Model.Kind.STEER4J
                ? new CachedPrefill(model, module, prompts, listener)
                : new RecomputeDecoder(model, module, prompts, listener);
    }

    /** Last-position logits of each prompt, run as one left-padded batch: {@code [B][V]}. */
    public float[][] lastLogits(int[][] prompts) {
        try (Gpt2Model.Use use = model.use()) {
            return lastLogits(program(), prompts); // built outside inference mode and any scope
        }
    }

    private float[][] lastLogits(Program program, int[][] prompts) {
        try (InferenceMode guard = new InferenceMode(); PointerScope scope = new PointerScope();
             Decoder d = decoder(program, prompts, 0)) {
            float[] flat = Tensors.toFloats(finite(d.prefill()));
            int v = flat.length / prompts.length;
            float[][] out = new float[prompts.length][];
            for (int b = 0; b < prompts.length; b++) {
                out[b] = Arrays.copyOfRange(flat, b * v, (b + 1) * v);
            }
            return out;
        }
    }

    /**
     * Teacher forcing: row b's logits at its positions {@code from[b]} to its last, {@code [B][len_b - from_b][V]},
     * all rows as one left-padded forward pass (a steer4j program; a foreign one has no such pass here). Logits at
     * position t are the next-token distribution after the row's first t + 1 tokens.
     */
    public float[][][] positionLogits(int[][] rows, int[] from) {
        if (model.kind() != Gpt2Model.Kind.STEER4J) {
            throw new InvalidInputException("logits at every position need a steer4j program (convert the model with `steer4j convert`)");
        }
        long floats = 0;
        for (int b = 0; b < rows.length; b++) floats += (long) (rows[b].length - from[b]) * model.vocabSize();
        MemoryBudget.requireHeap("logits at " + rows.length + " rows' positions", "as floats", MemoryBudget.product(floats, Float.BYTES));
        try (Gpt2Model.Use use = model.use()) {
            Program program = program(); // built outside inference mode and any scope
            try (InferenceMode guard = new InferenceMode(); PointerScope scope = new PointerScope();
                 Decoder d = decoder(program, rows, 0)) {
                Tensor all = finite(((CachedPrefill) d).everyPosition());
                long width = all.size(1);
                float[][][] out = new float[rows.length][][];
                for (int b = 0; b < rows.length; b++) {
                    int n = rows[b].length - from[b];
                    long start = width - rows[b].length + from[b]; // left padding: row b ends at the last column
                    float[] flat = Tensors.toFloats(all.select(0, b).narrow(0, start, n));
                    int v = n == 0 ? 0 : flat.length / n;
                    out[b] = new float[n][];
                    for (int t = 0; t < n; t++) out[b][t] = Arrays.copyOfRange(flat, t * v, (t + 1) * v);
                }
                return out;
            }
        }
    }

    /** The token-level loop: returns each row's new tokens. */
    public int[][] generateIds(int[][] prompts, int maxNewTokens, Sampling sampling, IntConsumer onToken) {
        int[] limits = new int[prompts.length];
        Arrays.fill(limits, maxNewTokens);
        TokenSampler sampler = sampling.greedy() ? null : new TokenSampler(sampling, prompts.length);
        return generateIds(prompts, limits, sampler, onToken);
    }

    /**
     * One batch of requests, each with its own token limit and sampling; row b samples from stream
     * {@code streams[b]} of its seed (0 = as if it ran alone).
     */
    public int[][] generateIds(int[][] prompts, int[] maxNewTokens, Sampling[] sampling, int[] streams,
                               IntConsumer onToken) {
        boolean anySampled = Arrays.stream(sampling).anyMatch(s -> !s.greedy());
        return generateIds(prompts, maxNewTokens, anySampled ? new TokenSampler(sampling, streams) : null, onToken);
    }

    private int[][] generateIds(int[][] prompts, int[] limits, TokenSampler sampler, IntConsumer onToken) {
        if (model.kind() == Gpt2Model.Kind.STEER4J) {
            throw new IllegalStateException("a steer4j program generates on the engine (a session's run/generate, or"
                    + " dev.steer4j.engine.BatchEngine); Generator generates for foreign models only");
        }
        int maxNewTokens = 0;
        for (int n : limits) {
            if (n < 0) throw new InvalidInputException("the number of new tokens must be >= 0, got " + n);
            maxNewTokens = Math.max(maxNewTokens, n);
        }
        try (Gpt2Model.Use use = model.use()) {
            return decode(program(), prompts, limits, maxNewTokens, sampler, onToken); // built outside inference mode
        }
    }

    private int[][] decode(Program program, int[][] prompts, int[] limits, int maxNewTokens, TokenSampler sampler,
                           IntConsumer onToken) {
        int rows = prompts.length;
        int eos = model.tokenizer() == null ? 50256 : model.tokenizer().eosTokenId();
        List<List<Integer>> produced = new ArrayList<>();
        boolean[] done = new boolean[rows];
        for (int b = 0; b < rows; b++) {
            produced.add(new ArrayList<>());
            done[b] = limits[b] == 0;
        }
        try (InferenceMode guard = new InferenceMode();
             RecomputeDecoder d = (RecomputeDecoder) decoder(program, prompts, maxNewTokens)) {
            long[] next = new long[rows];
            for (int step = 0; step < maxNewTokens; step++) {
                model.checkOpen(); // a close from another thread waits for this call: give way at once
                try (PointerScope scope = new PointerScope()) {
                    Tensor logits;
                    try (Profiler.Span s = Profiler.span(step == 0 ? "prefill" : "decode_step")) {
                        logits = step == 0 ? finite(d.prefill()) : d.step(next);
                    }
                    try (Profiler.Span s = Profiler.span("sampling")) {
                        choose(logits, sampler, next);
                    }
                }
                int active = 0;
                for (int b = 0; b < rows; b++) {
                    if (done[b]) continue;
                    produced.get(b).add((int) next[b]);
                    if ((next[b] == eos && stopAtEos) || produced.get(b).size() == limits[b]) done[b] = true;
                    else active++;
                }
                if (onToken != null) onToken.accept(step + 1);
                if (active == 0) break;
            }
        }
        int[][] out = new int[rows][];
        for (int b = 0; b < rows; b++) {
            out[b] = produced.get(b).stream().mapToInt(Integer::intValue).toArray();
        }
        return out;
    }

    /**
     * The prefill's logits, refused if any is NaN or infinite: a legal but huge steering coefficient (1e30 on
     * a float32 model) overflows the residual stream, and garbage must not pass for text.
     */
    private static Tensor finite(Tensor logits) {
        try (Tensor ok = logits.isfinite().all()) {
            if (!ok.item_bool()) {
                throw new InvalidInputException("the forward pass gave NaN or infinite logits: is a steering coefficient too large"
                        + " for the model's dtype?");
            }
        }
        return logits;
    }

    private static void choose(Tensor logits, TokenSampler sampler, long[] next) {
        if (sampler == null) {
            argmaxInto(logits, next);
            return;
        }
        float[] flat = Tensors.toFloats(logits);
        int v = flat.length / next.length;
        for (int b = 0; b < next.length; b++) {
            next[b] = sampler.sample(flat, b * v, v, b);
        }
    }

    /** Each row's most likely token, written into {@code next}. */
    private static void argmaxInto(Tensor logits, long[] next) {
        long[] best = Tensors.toLongs(logits.argmax(new LongOptional(-1), false));
        System.arraycopy(best, 0, next, 0, next.length);
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
    }
}
