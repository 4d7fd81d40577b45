package dev.steer4j.generate;

import dev.steer4j.InvalidInputException;
import dev.steer4j.model.ForwardListener;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.runtime.TorchErrors;
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
 *
 * <p>Nothing but the program's code says what its forward takes and returns, so a model that does not fit is found
 * at its first run: a forward libtorch refuses (another signature, a shape it cannot take) and a result that is not
 * {@code [1, T, V]} logits are bad input, one line naming the file, never libtorch's text or a wrong token.
 */
final class RecomputeDecoder implements Decoder {
    private final Gpt2Model model;
    private final JitModule module;
    private final ForwardListener listener;
    private final Device device;
    private final long[][] sequences;

    RecomputeDecoder(Gpt2Model model, JitModule module, int[][] prompts, ForwardListener listener) {
        this.model = model;
        this.module = module;
        this.device = model.device();
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

    /** Appends one token to every row and returns the logits that follow it. */
    Tensor step(long[] nextTokens) {
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
                try (IValue out = forward(ids, t); Tensor logits = out.toTensor()) {
                    rows.push_back(logits.select(0, 0).select(0, t - 1));
                }
            }
        }
        Tensor stacked = torch.stack(rows);
        rows.close();
        return stacked;
    }

    /** The model's forward on {@code ids [1, t]}, its result checked to be logits {@code [1, t, V]}. */
    private IValue forward(Tensor ids, int t) {
        String expects = "; steer4j runs a foreign TorchScript GPT-2 as forward(input_ids [1, T]) -> logits [1, T, "
                + model.vocabSize() + "]";
        IValue out;
        try {
            out = module.forward(new IValueVector(new IValue(ids)));
        } catch (RuntimeException e) {
            if (!TorchErrors.isNative(e)) throw e;
            String reason = TorchErrors.reason(e.getMessage());
            throw new InvalidInputException(what() + ": its forward failed on input_ids of shape [1, " + t + "]"
                    + (reason == null ? "" : " (" + reason + ")") + expects, e);
        }
        if (!out.isTensor()) {
            String kind = out.tagKind().getString();
            out.close();
            throw new InvalidInputException(what() + ": its forward returned a " + kind + ", not a tensor" + expects);
        }
        long[] shape;
        try (Tensor logits = out.toTensor()) {
            shape = Tensors.shape(logits);
        }
        // [1, T, width] would be hidden states: a traced GPT2Model without its LM head
        if (shape.length != 3 || shape[0] != 1 || shape[1] != t || shape[2] != model.vocabSize()) {
            out.close();
            throw new InvalidInputException(what() + ": its forward returned shape " + Arrays.toString(shape)
                    + " for input_ids of shape [1, " + t + "]" + expects);
        }
        return out;
    }

    private String what() {
        return model.file() != null ? model.file().toString() : "the model";
    }

    @Override
    public void close() {}
}
