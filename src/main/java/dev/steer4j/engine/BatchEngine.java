package dev.steer4j.engine;

import dev.steer4j.InvalidInputException;
import dev.steer4j.generate.ForwardListener;
import dev.steer4j.generate.RequestSampler;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.model.Gpt2Program;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.session.Request;
import dev.steer4j.session.Result;
import dev.steer4j.session.SteeringSession;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Method;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;

/**
 * Continuous batching: a fixed number of slots over one {@link SlotCache}. Requests enter free slots between
 * decode steps (each prefill writes its own slot only) and leave at EOS or their token limit, so no row
 * waits for another's prompt or generation. Each slot has its own positions, steering (per-row hooks,
 * {@link SlotSteering}) and sampler, so a request's tokens do not depend on what shares the batch. Greedy
 * steps run in the graph ({@link Gpt2Program#GREEDY_STEP}): the tokens stay on the device between steps.
 */
public final class BatchEngine implements AutoCloseable {
    /** Where results go, in the order requests finish. */
    public interface Sink {
        void completed(Result result);

        /** {@code request} could not run (bad steering, a prompt that does not fit, NaN logits). */
        void failed(Request request, String message);
    }

    private final SteeringSession session;
    private final Gpt2Model model;
    private final HookedModel hooks;
    private final SlotSteering steering;
    private final Slot[] active;
    private final int eos;
    private SlotCache cache;
    private JitModule program;
    private ForwardListener listener;
    private boolean listenerOnSteps;
    private Method greedy;
    private IValueVector greedyArgs;
    private Tensor greedyPast;
    private Tensor hostIds;
    private LongPointer hostView;
    private long prefills;
    private long prefillNanos;
    private long steps;
    private long stepNanos;

    /** What one slot is running. */
    private static final class Slot {
        final Request request;
        final int[] prompt;
        final RequestSampler sampler;
        final List<Integer> produced = new ArrayList<>();

        Slot(Request request, int[] prompt) {
            this.request = request;
            this.prompt = prompt;
            this.sampler = new RequestSampler(request.sampling(), 0);
        }
    }

    public BatchEngine(SteeringSession session, int slots) {
        if (slots < 1) throw new InvalidInputException("the engine needs at least 1 slot, got " + slots);
        if (session.model().kind() != Gpt2Model.Kind.STEER4J) {
            throw new InvalidInputException("continuous batching needs a steer4j program (convert the model with `steer4j convert`)");
        }
        this.session = session;
        this.model = session.model();
        this.hooks = session.hooks();
        this.steering = new SlotSteering(hooks, slots);
        this.active = new Slot[slots];
        this.eos = model.tokenizer().eosTokenId();
    }

    public int slots() {
        return active.length;
    }

    /** Where the time went: prefills and decode steps, counts and seconds. */
    public java.util.Map<String, Object> stats() {
        java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("prefills", prefills);
        m.put("prefill_seconds", prefillNanos / 1e9);
        m.put("decode_steps", steps);
        m.put("decode_seconds", stepNanos / 1e9);
        return m;
    }

    /** The cache, once the first request has come (null before). */
    SlotCache cache() {
        return cache;
    }

    /** Runs every request {@code source} gives (pulled only as slots free up), then returns. */
    public void run(Iterator<Request> source, Sink sink) {
        while (true) {
            for (int b = 0; b < active.length && source.hasNext(); b++) {
                while (active[b] == null && source.hasNext()) admit(b, source.next(), sink);
            }
            if (!anyActive()) {
                if (!source.hasNext()) return;
                continue;
            }
            step(sink);
        }
    }

    private boolean anyActive() {
        for (Slot s : active) if (s != null) return true;
        return false;
    }

    private void admit(int b, Request r, Sink sink) {
        int[] prompt;
        try {
            prompt = session.check(r);
        } catch (InvalidInputException e) {
            sink.failed(r, e.getMessage());
            return;
        }
        if (r.maxNewTokens() == 0) {
            sink.completed(new Result(r.id(), r.prompt(), prompt, new int[0], "", Result.FinishReason.LENGTH));
            return;
        }
        int span = prompt.length + r.maxNewTokens();
        if (cache == null) {
            cache = new SlotCache(model, active.length, span);
            hostIds = model.isCpu() ? cache.ids : Tensor.create(new long[active.length], new long[]{active.length, 1});
            hostView = hostIds.data_ptr_long();
            greedyPast = Tensor.create(new long[]{0}, new long[]{});
        } else if (cache.ensureSpan(span)) {
            dropGreedyArgs();
        }
        Slot slot = new Slot(r, prompt);
        int first;
        long t0 = System.nanoTime();
        try {
            steering.admit(b, r.steer()); // refuses a coefficient that overflows the dtype
            first = prefill(b, slot);
            prefills++;
            prefillNanos += System.nanoTime() - t0;
        } catch (InvalidInputException e) {
            sink.failed(r, e.getMessage());
            return;
        }
        active[b] = slot;
        try (Tensor id = cache.ids.select(0, b)) {
            id.fill_(new Scalar(first));
        }
        record(b, first, sink);
    }

    /** The prompt's forward pass in slot {@code b} alone; returns the first new token. */
    private int prefill(int b, Slot slot) {
        refreshProgram();
        int length = slot.prompt.length;
        int start = cache.place(b, length);
        long[] ids = new long[length];
        long[] pos = new long[length];
        for (int t = 0; t < length; t++) {
            ids[t] = slot.prompt[t];
            pos[t] = t;
        }
        var device = model.device();
        try (InferenceMode guard = new InferenceMode(); PointerScope scope = new PointerScope();
             SlotCache.SlotView view = cache.view(b)) {
            Tensor input = Tensors.longs(ids, new long[]{1, length}, device);
            Tensor positions = Tensors.longs(pos, new long[]{1, length}, device);
            Tensor row = Tensors.longs(new long[]{b}, new long[]{1}, device);
            listener.onForward(row, positions);
            listenerOnSteps = false;
            IValueVector args = new IValueVector(new IValue(input), new IValue(positions), new IValue(view.keyPadding()),
                    view.keys(), view.values(), new IValue(start), new IValue(true));
            try (IValue out = program.forward(args); Tensor logits = out.toTensor()) {
                try (Tensor ok = logits.isfinite().all()) {
                    if (!ok.item_bool()) {
                        throw new InvalidInputException("the forward pass gave NaN or infinite logits: is a steering coefficient"
                                + " too large for the model's dtype?");
                    }
                }
                float[] flat = Tensors.toFloats(logits);
                return slot.sampler.sample(flat, 0, flat.length);
            }
        }
    }

    /** One token for every slot; idle slots compute too (their rows are never read). */
    private void step(Sink sink) {
        long t0 = System.nanoTime();
        cache.beforeStep();
        refreshProgram();
        if (!listenerOnSteps) {
            listener.onForward(cache.rows, cache.positions); // the same tensors every step, updated in place
            listenerOnSteps = true;
        }
        boolean sampled = false;
        for (Slot s : active) if (s != null && !s.sampler.greedy()) sampled = true;
        long[] next = new long[active.length];
        IValueVector args = sampled ? null : greedyArgs(); // kept across steps: made outside the step's scope
        try (InferenceMode guard = new InferenceMode(); PointerScope scope = new PointerScope()) {
            if (!sampled) {
                greedyPast.fill_(new Scalar(cache.clock()));
                greedy.apply(args).close();
                if (hostIds != cache.ids) hostIds.copy_(cache.ids);
                hostView.get(next);
            } else {
                args = new IValueVector(new IValue(cache.ids), new IValue(cache.positions),
                        new IValue(cache.keyPadding()), cache.keys(), cache.values(), new IValue(cache.clock()), new IValue(true));
                try (IValue out = program.forward(args); Tensor logits = out.toTensor()) {
                    float[] flat = Tensors.toFloats(logits);
                    int v = flat.length / active.length;
                    for (int b = 0; b < active.length; b++) {
                        if (active[b] != null) next[b] = active[b].sampler.sample(flat, b * v, v);
                    }
                }
                hostView.put(next);
                if (hostIds != cache.ids) cache.ids.copy_(hostIds);
                cache.positions.add_(new Scalar(1L));
            }
        }
        cache.advance();
        steps++;
        stepNanos += System.nanoTime() - t0;
        for (int b = 0; b < active.length; b++) {
            if (active[b] != null) record(b, (int) next[b], sink);
        }
    }

    /** Adds a slot's new token; the request leaves at EOS or its limit. */
    private void record(int b, int token, Sink sink) {
        Slot s = active[b];
        s.produced.add(token);
        boolean atEos = token == eos;
        if (!atEos && s.produced.size() < s.request.maxNewTokens()) return;
        int[] out = s.produced.stream().mapToInt(Integer::intValue).toArray();
        active[b] = null;
        try (Tensor p = cache.positions.select(0, b)) {
            p.fill_(new Scalar(0L)); // an idle slot keeps counting; from 0 it stays inside the position table
        }
        sink.completed(new Result(s.request.id(), s.request.prompt(), s.prompt, out, model.tokenizer().decode(out),
                atEos ? Result.FinishReason.EOS : Result.FinishReason.LENGTH));
    }

    /** The hooked program as it is now; a new hook group rebuilds it (outside inference mode, before any scope). */
    private void refreshProgram() {
        JitModule current = hooks.module();
        if (current != program) {
            program = current;
            listener = hooks.listener();
            listener.onStart(cache.promptLengths); // updated in place at each admission
            listenerOnSteps = false;
            dropGreedyArgs();
            if (greedy != null) greedy.close();
            greedy = program.get_method(Gpt2Program.GREEDY_STEP);
        }
    }

    private IValueVector greedyArgs() {
        if (greedyArgs == null) {
            try (IValue ids = new IValue(cache.ids); IValue positions = new IValue(cache.positions);
                 IValue padding = new IValue(cache.keyPadding()); IValue past = new IValue(greedyPast)) {
                greedyArgs = new IValueVector(ids, positions, padding, cache.keys(), cache.values(), past);
            }
        }
        return greedyArgs;
    }

    private void dropGreedyArgs() {
        if (greedyArgs != null) greedyArgs.close();
        greedyArgs = null;
    }

    @Override
    public void close() {
        dropGreedyArgs();
        if (greedy != null) greedy.close();
        steering.close();
        if (cache != null) {
            if (hostIds != null && hostIds != cache.ids) hostIds.close();
            cache.close();
        }
        if (greedyPast != null) greedyPast.close();
    }
}
