package dev.steer4j.bench;

import dev.steer4j.engine.BatchEngine;
import dev.steer4j.engine.RowSteering;
import dev.steer4j.generate.Generator;
import dev.steer4j.request.Request;
import dev.steer4j.request.Sampling;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.request.Positions;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;

/**
 * Steered against unsteered generation in one process: after a warm-up, each repeat runs both sides on the
 * same random prompts, alternating which goes first, so both see the same machine state. Greedy, exactly N new tokens
 * (no EOS stop), a batch of B prompts of P random one-token words, as one static batch on the engine (what
 * {@code generate} runs).
 */
public final class Bench {
    public record Settings(int batch, int promptTokens, int newTokens, int repeats, int warmup, long seed) {}

    /** One side's timings. */
    private record Run(double prefillMs, double decodeMsPerToken, double tokensPerS) {}

    private Bench() {}

    /** A unit-norm random vector times 4 on the output of every block: the default steering load. */
    public static void steerEveryBlock(HookedModel hm, long seed) {
        Gpt2Model m = hm.model();
        float[] v = unitTimes(m.width(), 4, new SplittableRandom(seed));
        for (int l = 0; l < m.layers(); l++) {
            try (var t = Tensors.floats(v, new long[]{v.length}, m.device(), m.dtype())) {
                hm.hookOutput("transformer.h." + l, new HookOp.Add(t, 1.0, Positions.ALL, false));
            }
        }
    }

    /**
     * Per-request steering with {@code k} distinct configurations over {@code batch} rows: row b gets
     * configuration b mod k, a unit random vector times a coefficient of its own (4 down to 2) on every block,
     * through one per-row hook per block, the mechanism of {@code SteeringSession.run}.
     */
    public static void steerDistinct(HookedModel hm, int batch, int k, long seed) {
        Gpt2Model m = hm.model();
        int d = m.width();
        SplittableRandom rnd = new SplittableRandom(seed);
        float[][] configs = new float[k][];
        for (int c = 0; c < k; c++) configs[c] = unitTimes(d, 4.0 - 2.0 * c / k, rnd);
        float[] rows = new float[batch * d];
        for (int b = 0; b < batch; b++) System.arraycopy(configs[b % k], 0, rows, b * d, d);
        for (int l = 0; l < m.layers(); l++) {
            try (var t = Tensors.floats(rows, new long[]{batch, d}, m.device(), m.dtype())) {
                hm.hookOutput("transformer.h." + l, new HookOp.Add(t, 1.0, Positions.ALL, true));
            }
        }
    }

    private static float[] unitTimes(int width, double scale, SplittableRandom rnd) {
        float[] v = new float[width];
        double norm = 0;
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (rnd.nextDouble() * 2 - 1);
            norm += v[i] * v[i];
        }
        for (int i = 0; i < v.length; i++) v[i] = (float) (scale * v[i] / Math.sqrt(norm));
        return v;
    }

    public static Map<String, Object> run(Gpt2Model model, HookedModel steered, Settings s) {
        try (HookedModel bare = new HookedModel(model); Side plain = Side.of(bare, s); Side hooked = Side.of(steered, s)) {
            return run(model, plain, hooked, s);
        }
    }

    private static Map<String, Object> run(Gpt2Model model, Side plain, Side hooked, Settings s) {
        List<String> prompts = randomPrompts(model, s);
        for (int i = 0; i < s.warmup(); i++) {
            time(plain, prompts, s);
            time(hooked, prompts, s);
        }
        DeviceMemory.resetPeak(model.device());
        Run[] u = new Run[s.repeats()];
        Run[] st = new Run[s.repeats()];
        for (int r = 0; r < s.repeats(); r++) {
            // alternate which side goes first, so neither always runs on a warmer machine
            if (r % 2 == 0) {
                u[r] = time(plain, prompts, s);
                st[r] = time(hooked, prompts, s);
            } else {
                st[r] = time(hooked, prompts, s);
                u[r] = time(plain, prompts, s);
            }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        Map<String, Object> unsteered = summary(u);
        Map<String, Object> steeredSummary = summary(st);
        out.put("unsteered", unsteered);
        out.put("steered", steeredSummary);
        double ratio = median(st) / median(u);
        out.put("steered_over_unsteered", ratio);
        // each repeat's own ratio: the two runs of a pair are seconds apart, so slow drifts of a shared
        // machine cancel, which a ratio of two medians over the whole run does not do
        double[] paired = new double[s.repeats()];
        for (int r = 0; r < paired.length; r++) paired[r] = st[r].tokensPerS() / u[r].tokensPerS();
        out.put("steered_over_unsteered_paired", Stats.of(paired).toMap());
        out.put("peak_rss_mb", Memory.peakRssMb());
        out.put("device_memory_mb", DeviceMemory.report(model.device()));
        long weights = model.weightBytes();
        out.put("weight_bytes", weights);
        double decodeS = Stats.of(decode(u)).median() / 1000.0;
        out.put("weight_read_gbps_per_decode_step", decodeS > 0 ? weights / decodeS / 1e9 : null);
        if (decodeS > 0) { // the unsteered decode step against this machine's limits, measured now
            int context = s.promptTokens() + s.newTokens() / 2; // the mean position a decode step attends over
            out.put("roofline", Roofline.decodeStep(model, Roofline.measure(model), s.batch(), context, decodeS,
                    Roofline.gemmsAlone(model, s.batch())));
        }
        return out;
    }

    /**
     * One side of the comparison: what users run. A steer4j program runs on the engine (a static batch: every
     * request admitted at once); a foreign model, which has no KV cache and so no engine, by recompute.
     */
    private interface Side extends AutoCloseable {
        /** Greedy, exactly {@code newTokens} each (through EOS); {@code onStep} told each step done. */
        void generate(List<String> prompts, int newTokens, IntConsumer onStep);

        @Override
        void close();

        static Side of(HookedModel hooks, Settings s) {
            Gpt2Model model = hooks.model();
            if (model.kind() == Gpt2Model.Kind.FOREIGN) {
                Generator g = new Generator(model, hooks).ignoringEos();
                return new Side() {
                    @Override public void generate(List<String> prompts, int n, IntConsumer onStep) {
                        g.generateIds(g.encode(prompts, n), n, Sampling.GREEDY, onStep);
                    }

                    @Override public void close() {}
                };
            }
            RowSteering rows = new RowSteering(hooks);
            BatchEngine engine = new BatchEngine(hooks, rows, s.batch(), model::use).ignoringEos();
            return new Side() {
                @Override public void generate(List<String> prompts, int n, IntConsumer onStep) {
                    List<Request> requests = new ArrayList<>();
                    for (String p : prompts) requests.add(Request.of(null, p, n));
                    engine.runAll(requests, new int[requests.size()], onStep);
                }

                @Override public void close() {
                    engine.close();
                    rows.close();
                }
            };
        }
    }

    private static Run time(Side side, List<String> prompts, Settings s) {
        long[] stamps = new long[s.newTokens() + 1];
        stamps[0] = System.nanoTime();
        side.generate(prompts, s.newTokens(), step -> stamps[step] = System.nanoTime());
        double prefill = (stamps[1] - stamps[0]) / 1e6;
        double decode = s.newTokens() > 1 ? (stamps[s.newTokens()] - stamps[1]) / 1e6 / (s.newTokens() - 1) : 0;
        double total = (stamps[s.newTokens()] - stamps[0]) / 1e9;
        return new Run(prefill, decode, (double) prompts.size() * s.newTokens() / total);
    }

    /**
     * Prompts of exactly {@code promptTokens} tokens: random vocabulary words (" " + letters, each one token), so every
     * run sees the same lengths.
     */
    private static List<String> randomPrompts(Gpt2Model model, Settings s) {
        SplittableRandom rnd = new SplittableRandom(s.seed());
        var tokenizer = model.tokenizer();
        int limit = Math.min(50000, model.vocabSize()); // below the end-of-text token
        List<String> prompts = new ArrayList<>();
        for (int b = 0; b < s.batch(); b++) {
            StringBuilder text = new StringBuilder();
            for (int t = 0, tries = 0; t < s.promptTokens(); tries++) {
                if (tries > 100_000) throw new IllegalStateException("this vocabulary has too few one-token words for a prompt");
                String word = tokenizer.decode(new int[]{rnd.nextInt(limit)});
                if (!word.matches(" [A-Za-z]{2,}") || tokenizer.encode(word).length != 1) continue;
                text.append(word);
                t++;
            }
            // GPT-2's pre-tokenizer splits text before each " word", so the words never merge across
            if (tokenizer.encode(text.toString()).length != s.promptTokens()) {
                throw new IllegalStateException("a prompt of one-token words did not encode to " + s.promptTokens() + " tokens");
            }
            prompts.add(text.toString());
        }
        return prompts;
    }

    private static Map<String, Object> summary(Run[] runs) {
        double[] prefill = new double[runs.length];
        double[] tps = new double[runs.length];
        for (int i = 0; i < runs.length; i++) {
            prefill[i] = runs[i].prefillMs();
            tps[i] = runs[i].tokensPerS();
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("prefill_ms", Stats.of(prefill).toMap());
        m.put("decode_ms_per_token", Stats.of(decode(runs)).toMap());
        m.put("tokens_per_s", Stats.of(tps).toMap());
        return m;
    }

    private static double[] decode(Run[] runs) {
        double[] d = new double[runs.length];
        for (int i = 0; i < runs.length; i++) d[i] = runs[i].decodeMsPerToken();
        return d;
    }

    private static double median(Run[] runs) {
        double[] tps = new double[runs.length];
        for (int i = 0; i < runs.length; i++) tps[i] = runs[i].tokensPerS();
        return Stats.of(tps).median();
    }

    /** Runs {@code calls} short steered generations and reports resident memory before and after. */
    public static Map<String, Object> soak(HookedModel steered, int calls, long seed) {
        Settings s = new Settings(1, 8, 4, 1, 0, seed);
        List<String> prompts = randomPrompts(steered.model(), s);
        double before;
        double after;
        try (Side side = Side.of(steered, s)) {
            for (int i = 0; i < 20; i++) side.generate(prompts, s.newTokens(), null);
            System.gc();
            before = Memory.rssMb();
            for (int i = 0; i < calls; i++) side.generate(prompts, s.newTokens(), null);
            System.gc();
            after = Memory.rssMb();
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("calls", calls);
        m.put("rss_mb_after_warmup", before);
        m.put("rss_mb_after_calls", after);
        m.put("growth_mb", after - before);
        return m;
    }
}
