package dev.steer4j.generate;

import dev.steer4j.model.ForwardListener;
import dev.steer4j.model.GPT2Config;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.model.Gpt2Program;
import dev.steer4j.runtime.Tensors;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Method;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * steer4j's own program: one left-padded batch, a KV cache preallocated for prompt + new tokens and
 * filled in place, one forward pass per token.
 *
 * <p>Left padding as Hugging Face does it: pads are masked out as keys, and a row's position ids count
 * from its first real token (pads get position id 1, which cannot affect real tokens).
 */
final class CachedDecoder implements Decoder {
    private final JitModule module;
    private final ForwardListener listener;
    private final int rows;
    private final int promptWidth;
    private final Tensor inputIds;
    private final Tensor positionIds;
    private final Tensor hookPositions;
    private final Tensor rowIndex;
    private final Tensor keyPadding;
    private final Tensor stepPositions;
    private final IValue kCaches;
    private final IValue vCaches;
    private final Tensor[] caches;
    // The tokens of the next step, [B,1] on the device; hostIds is the same tensor on CPU, else a host copy.
    private final Tensor nextIds;
    private final Tensor hostIds;
    private final LongPointer hostView;
    private boolean nextIdsCurrent; // nextIds already holds what the caller's array holds
    private boolean listenerCurrent; // the listener already points at rowIndex and stepPositions
    private int past;
    // The greedy step (Gpt2Program.GREEDY_STEP) and its arguments: the same objects every step.
    private final Method greedy;
    private final IValueVector greedyArgs;
    private final Tensor greedyPast; // 0-dim long on CPU, advanced by the greedy step itself
    private int greedyPastValue;

    CachedDecoder(Gpt2Model model, JitModule module, int[][] prompts, int maxNewTokens, ForwardListener listener) {
        this.module = module;
        this.listener = listener;
        GPT2Config c = model.config();
        rows = prompts.length;
        LeftPadding layout = LeftPadding.of(prompts);
        int width = layout.width();
        promptWidth = width;
        int capacity = width + maxNewTokens;
        long[] lengths = layout.lengths();
        var device = model.device();
        inputIds = Tensors.longs(layout.ids(), new long[]{rows, width}, device);
        positionIds = Tensors.longs(layout.positions(), new long[]{rows, width}, device);
        hookPositions = Tensors.longs(layout.hookPositions(), new long[]{rows, width}, device);
        rowIndex = Tensors.longs(rangeOf(rows), new long[]{rows}, device);
        stepPositions = Tensors.longs(lengths, new long[]{rows, 1}, device);
        try (Tensor padCpu = Tensor.create(layout.keyPadding(capacity), new long[]{rows, capacity})) {
            keyPadding = padCpu.to(device, ScalarType.Bool);
        }
        caches = new Tensor[2 * c.nLayer()];
        TensorOptions opts = new TensorOptions(model.dtype()).device(new org.bytedeco.pytorch.DeviceOptional(device));
        for (int i = 0; i < caches.length; i++) {
            caches[i] = torch.zeros(new long[]{rows, c.nHead(), capacity, c.headDim()}, opts);
        }
        Tensor[] k = new Tensor[c.nLayer()];
        Tensor[] v = new Tensor[c.nLayer()];
        System.arraycopy(caches, 0, k, 0, k.length);
        System.arraycopy(caches, k.length, v, 0, v.length);
        kCaches = Tensors.tensorList(k);
        vCaches = Tensors.tensorList(v);
        nextIds = Tensors.longs(new long[rows], new long[]{rows, 1}, device);
        hostIds = device.is_cpu() ? nextIds : Tensor.create(new long[rows], new long[]{rows, 1});
        hostView = hostIds.data_ptr_long();
        greedy = module.get_method(Gpt2Program.GREEDY_STEP);
        greedyPast = Tensor.create(new long[]{0}, new long[]{});
        try (IValue next = new IValue(nextIds); IValue positions = new IValue(stepPositions);
             IValue padding = new IValue(keyPadding); IValue counter = new IValue(greedyPast)) {
            greedyArgs = new IValueVector(next, positions, padding, kCaches, vCaches, counter); // holds its own copies
        }
        try (Tensor len = Tensors.longs(lengths, new long[]{rows}, device)) {
            listener.onStart(len);
        }
    }

    @Override
    public Tensor prefill() {
        listener.onForward(rowIndex, hookPositions);
        listenerCurrent = false;
        Tensor logits = forward(inputIds, positionIds);
        past = promptWidth;
        return logits;
    }

    @Override
    public Tensor step(long[] nextTokens) {
        prepareStep(nextTokens);
        Tensor logits = forward(nextIds, stepPositions);
        past += 1;
        stepPositions.add_(new Scalar(1L));
        return logits;
    }

    /**
     * One call into the graph and one read of the chosen tokens: forward, argmax and the position updates
     * all run in {@link Gpt2Program#GREEDY_STEP}, so a step crosses into native code about three times.
     */
    @Override
    public void stepGreedy(long[] nextTokens) {
        prepareStep(nextTokens);
        if (greedyPastValue != past) { // after the prefill, or logits steps in between
            greedyPast.fill_(new Scalar(past));
            greedyPastValue = past;
        }
        greedy.apply(greedyArgs).close();
        past += 1;
        greedyPastValue += 1;
        if (hostIds != nextIds) hostIds.copy_(nextIds);
        hostView.get(nextTokens);
        nextIdsCurrent = true;
    }

    /** Puts the step's tokens on the device (unless the last greedy step left them there) and tells the listener. */
    private void prepareStep(long[] nextTokens) {
        if (!nextIdsCurrent) {
            hostView.put(nextTokens);
            if (hostIds != nextIds) nextIds.copy_(hostIds);
        }
        nextIdsCurrent = false;
        if (!listenerCurrent) {
            listener.onForward(rowIndex, stepPositions); // the same tensors every step, updated in place
            listenerCurrent = true;
        }
    }

    private Tensor forward(Tensor ids, Tensor positions) {
        IValueVector args = new IValueVector(new IValue(ids), new IValue(positions), new IValue(keyPadding),
                kCaches, vCaches, new IValue(past), new IValue(true));
        try (IValue out = module.forward(args); Tensor logits = out.toTensor()) {
            return logits.select(1, 0);
        }
    }

    private static long[] rangeOf(int n) {
        long[] r = new long[n];
        for (int i = 0; i < n; i++) r[i] = i;
        return r;
    }

    @Override
    public void close() {
        greedyArgs.close();
        greedy.close();
        greedyPast.close();
        if (hostIds != nextIds) hostIds.close();
        nextIds.close();
        kCaches.close();
        vCaches.close();
        for (Tensor t : caches) t.close();
        inputIds.close();
        positionIds.close();
        hookPositions.close();
        rowIndex.close();
        keyPadding.close();
        stepPositions.close();
        // No malloc_trim here: handing the freed cache back to the OS made the next call fault it in again
        // (a tiny-model batch-16 call took 13 ms instead of 3.4 ms), for ~20-60 MB less peak RSS at 124M.
    }
}
