package dev.steer4j.generate;

import dev.steer4j.model.ForwardListener;
import dev.steer4j.runtime.Tensors;
import java.util.Arrays;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * A foreign TorchScript GPT-2 ({@code input_ids [1,T] -> logits [1,T,V]}): no mask, no position ids and
 * no cache, so each row runs alone over its whole sequence at every step.
 */
final class RecomputeDecoder implements Decoder {
    private final JitModule module;
    private final ForwardListener listener;
    private final Device device;
    private final long[][] sequences;

    RecomputeDecoder(JitModule module, Device device, int[][] prompts, ForwardListener listener) {
        this.module = module;
        this.device = device;
        this.listener = listener;
        sequences = new long[prompts.length][];
        long[] lengths = new long[prompts.length];
        for (int b = 0; b < prompts.length; b++) {
            sequences[b] = Arrays.stream(prompts[b]).asLongStream().toArray();
            lengths[b] = prompts[b].length;
        }
        try (Tensor len = Tensors.longs(lengths, new long[]{lengths.length}, device)) {
            listener.onStart(len);
        }
    }

    @Override
    public Tensor prefill() {
        return runAll();
    }

    @Override
    public Tensor step(long[] nextTokens) {
        for (int b = 0; b < sequences.length; b++) {
            long[] s = Arrays.copyOf(sequences[b], sequences[b].length + 1);
            s[s.length - 1] = nextTokens[b];
            sequences[b] = s;
        }
        return runAll();
    }

    private Tensor runAll() {
        TensorVector rows = new TensorVector();
        for (int b = 0; b < sequences.length; b++) {
            int t = sequences[b].length;
            try (Tensor ids = Tensors.longs(sequences[b], new long[]{1, t}, device);
                 Tensor row = Tensors.longs(new long[]{b}, new long[]{1}, device);
                 Tensor positions = torch.arange(new org.bytedeco.pytorch.Scalar(t)).to(device, torch.ScalarType.Long).view(1, t)) {
                listener.onForward(row, positions);
                try (IValue out = module.forward(new IValueVector(new IValue(ids))); Tensor logits = out.toTensor()) {
                    rows.push_back(logits.select(0, 0).select(0, t - 1));
                }
            }
        }
        Tensor stacked = torch.stack(rows);
        rows.close();
        return stacked;
    }

    @Override
    public void close() {}
}
