package dev.steer4j.generate;

import dev.steer4j.model.ForwardListener;
import dev.steer4j.model.GPT2Config;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The prefill of steer4j's own program: one left-padded batch forward over its prompts, into KV caches of the
 * prompts' width, for last-position logits ({@code logits}, activations, captures). Generation runs on the engine
 * ({@code dev.steer4j.engine.BatchEngine}), which has its own cache and steps.
 *
 * <p>Left padding as Hugging Face does it: pads are masked out as keys, and a row's position ids count
 * from its first real token (pads get position id 1, which cannot affect real tokens).
 */
final class CachedPrefill implements Decoder {
    private final JitModule module;
    private final ForwardListener listener;
    private final Tensor inputIds;
    private final Tensor positionIds;
    private final Tensor hookPositions;
    private final Tensor rowIndex;
    private final Tensor keyPadding;
    private final IValue kCaches;
    private final IValue vCaches;
    private final Tensor[] caches;

    CachedPrefill(Gpt2Model model, JitModule module, int[][] prompts, ForwardListener listener) {
        this.module = module;
        this.listener = listener;
        GPT2Config c = model.config();
        int rows = prompts.length;
        LeftPadding layout = LeftPadding.of(prompts);
        int width = layout.width();
        long[] lengths = layout.lengths();
        var device = model.device();
        inputIds = Tensors.longs(layout.ids(), new long[]{rows, width}, device);
        positionIds = Tensors.longs(layout.positions(), new long[]{rows, width}, device);
        hookPositions = Tensors.longs(layout.hookPositions(), new long[]{rows, width}, device);
        rowIndex = Tensors.longs(rangeOf(rows), new long[]{rows}, device);
        try (Tensor padCpu = Tensor.create(layout.keyPadding(width), new long[]{rows, width})) {
            keyPadding = padCpu.to(device, ScalarType.Bool);
        }
        caches = new Tensor[2 * c.nLayer()];
        for (int i = 0; i < caches.length; i++) caches[i] = model.newCacheLayer(rows, width);
        Tensor[] k = new Tensor[c.nLayer()];
        Tensor[] v = new Tensor[c.nLayer()];
        System.arraycopy(caches, 0, k, 0, k.length);
        System.arraycopy(caches, k.length, v, 0, v.length);
        kCaches = Tensors.tensorList(k);
        vCaches = Tensors.tensorList(v);
        try (Tensor len = Tensors.longs(lengths, new long[]{rows}, device)) {
            listener.onStart(len);
        }
    }

    @Override
    public Tensor prefill() {
        listener.onForward(rowIndex, hookPositions);
        IValueVector args = new IValueVector(new IValue(inputIds), new IValue(positionIds), new IValue(keyPadding),
                kCaches, vCaches, new IValue(0), new IValue(true));
        try (IValue out = module.forward(args); Tensor logits = out.toTensor()) {
            return logits.select(1, 0);
        }
    }

    /** Logits at every position, {@code [B, W, V]}, left-padded as the prompts are (teacher forcing: metrics). */
    Tensor everyPosition() {
        listener.onForward(rowIndex, hookPositions);
        IValueVector args = new IValueVector(new IValue(inputIds), new IValue(positionIds), new IValue(keyPadding),
                kCaches, vCaches, new IValue(0), new IValue(false));
        try (IValue out = module.forward(args); Tensor logits = out.toTensor()) {
            return logits.narrow(1, 0, logits.size(1)); // a view of its own: the IValue's handle goes with it
        }
    }

    private static long[] rangeOf(int n) {
        long[] r = new long[n];
        for (int i = 0; i < n; i++) r[i] = i;
        return r;
    }

    @Override
    public void close() {
        kCaches.close();
        vCaches.close();
        for (Tensor t : caches) t.close();
        inputIds.close();
        positionIds.close();
        hookPositions.close();
        rowIndex.close();
        keyPadding.close();
    }
}
