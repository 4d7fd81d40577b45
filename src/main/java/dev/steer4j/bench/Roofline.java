package dev.steer4j.bench;

import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.MemoryBudget;
import dev.steer4j.runtime.Tensors;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * How far a measured speed is from this machine's limits, measured in the same run: a decode step at batch B does
 * B tokens' FLOPs and reads every weight once, so it is bound by the gemm rate when B is large and by memory
 * bandwidth when B is small. Both limits are measured here, on the model's device and dtype: a large gemm, and a
 * matrix-vector product over a matrix far larger than the caches (a read at the rate gemv reads weights, with the
 * threads the BLAS uses, which a single-threaded reduction would understate). Beside them, the step's own gemms
 * alone: every weight matrix of the model at the step's batch, timed without the rest of the step.
 */
public final class Roofline {
    /** Measured limits of this device: a gemm rate (GFLOP/s) in the model's dtype and a read bandwidth (GB/s). */
    public record Peaks(double gemmGflops, double readGBps) {}

    private static final int READ_COLUMNS = 4096;

    private static final int GEMM_SIZE = 2048;
    private static final long READ_BYTES = 512L << 20;

    private Roofline() {}

    /**
     * Forward FLOPs of one token attending over {@code context} positions: 2 per multiply-add of every weight matrix
     * it goes through (per block: c_attn d×3d, attention's c_proj d×d, c_fc d×inner, mlp's c_proj inner×d) and of
     * the attention itself (q·k over the context and the weighted sum of values: 2·d·context multiply-adds), plus
     * the unembedding (d×V) of the logits it yields. Layer norms, softmax and GELU are O(d) and left out.
     */
    public static double flopsPerToken(Gpt2Model model, int context) {
        return model.blockFlops(context - 1) + model.logitFlops();
    }

    /** Measures the gemm rate and read bandwidth of the model's device, best of a few tries each. */
    public static Peaks measure(Gpt2Model model) {
        return measure(model.device(), model.dtype());
    }

    /** As {@link #measure(Gpt2Model)}, for {@code dtype} on {@code device}. */
    public static Peaks measure(org.bytedeco.pytorch.Device device, org.bytedeco.pytorch.global.torch.ScalarType dtype) {
        try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
            TensorOptions opts = new TensorOptions(dtype).device(new DeviceOptional(device));
            Tensor a = torch.ones(new long[]{GEMM_SIZE, GEMM_SIZE}, opts);
            Tensor b = torch.ones(new long[]{GEMM_SIZE, GEMM_SIZE}, opts);
            double best = Double.MAX_VALUE;
            for (int i = 0; i < 3; i++) {
                long t0 = System.nanoTime();
                Tensor product = a.mm(b);
                sync(product);
                best = Math.min(best, (System.nanoTime() - t0) / 1e9);
            }
            double gemm = 2.0 * GEMM_SIZE * GEMM_SIZE * GEMM_SIZE / best / 1e9;
            long rows = READ_BYTES / Tensors.elementBytes(dtype) / READ_COLUMNS;
            Tensor matrix = torch.ones(new long[]{rows, READ_COLUMNS}, opts);
            Tensor vector = torch.ones(new long[]{READ_COLUMNS}, opts);
            double bestRead = Double.MAX_VALUE;
            for (int i = 0; i < 3; i++) {
                long t0 = System.nanoTime();
                sync(matrix.mv(vector));
                bestRead = Math.min(bestRead, (System.nanoTime() - t0) / 1e9);
            }
            return new Peaks(gemm, rows * READ_COLUMNS * Tensors.elementBytes(dtype) / bestRead / 1e9);
        }
    }

    /**
     * Seconds the gemms of one decode step at {@code batch} rows take alone, best of three: per block c_attn, the
     * attention's c_proj, c_fc and the mlp's c_proj, then the unembedding, each an addmm of {@code [batch, in]} by
     * {@code [in, out]} as the program runs them (a gemv at batch 1), on the model's device and dtype. NaN when a
     * second copy of the weights does not fit in the memory there is (it is measured with weights of its own).
     */
    public static double gemmsAlone(Gpt2Model model, int batch) {
        long d = model.width();
        long inner = model.innerWidth();
        long[][] shapes = {{3 * d, d}, {d, d}, {inner, d}, {d, inner}}; // [out, in]: the program's layout (Gpt2Program.columnMajor)
        long bytes = Tensors.elementBytes(model.dtype()) * (model.layers() * (3 * d * d + d * d + 2 * d * inner) + d * model.vocabSize());
        MemoryBudget.Available free = MemoryBudget.forTensors(model.device());
        if (free != null && free.bytes() < 2 * bytes) return Double.NaN;
        try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
            TensorOptions opts = new TensorOptions(model.dtype()).device(new DeviceOptional(model.device()));
            Tensor[] weights = new Tensor[shapes.length * model.layers() + 1];
            Tensor[] inputs = new Tensor[weights.length];
            for (int l = 0; l < model.layers(); l++) {
                for (int k = 0; k < shapes.length; k++) {
                    weights[l * shapes.length + k] = torch.ones(shapes[k], opts); // every layer its own: read from memory
                    inputs[l * shapes.length + k] = torch.ones(new long[]{batch, shapes[k][1]}, opts);
                }
            }
            weights[weights.length - 1] = torch.ones(new long[]{model.vocabSize(), d}, opts); // lm_head: wte, [V, d]
            inputs[weights.length - 1] = torch.ones(new long[]{batch, d}, opts);
            double best = Double.MAX_VALUE;
            for (int i = 0; i < 3; i++) {
                long t0 = System.nanoTime();
                Tensor last = null;
                for (int w = 0; w < weights.length; w++) {
                    last = batch == 1 ? weights[w].mv(inputs[w].select(0, 0)) : inputs[w].mm(weights[w].t());
                }
                sync(last);
                best = Math.min(best, (System.nanoTime() - t0) / 1e9);
            }
            return best;
        }
    }

    /** Waits for {@code t} by reading one element back (a CUDA kernel returns before it has run). */
    private static void sync(Tensor t) {
        Tensors.toFloats(t.flatten().narrow(0, 0, 1).to(torch.ScalarType.Float));
    }

    /**
     * A decode step of {@code batch} rows at {@code context} positions that took {@code stepSeconds}: its achieved
     * GFLOP/s and that as a fraction of the gemm peak, and the weight bytes it read per second as a fraction of the
     * read bandwidth; the larger fraction says which limit binds.
     */
    public static Map<String, Object> decodeStep(Gpt2Model model, Peaks peaks, int batch, int context, double stepSeconds,
                                                 double gemmsAloneSeconds) {
        double flops = batch * flopsPerToken(model, context);
        double gflops = flops / stepSeconds / 1e9;
        double readGBps = model.weightBytes() / stepSeconds / 1e9;
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("flops_per_token", flopsPerToken(model, context));
        m.put("achieved_gflops", gflops);
        m.put("gemm_peak_gflops", peaks.gemmGflops());
        m.put("gemm_fraction", gflops / peaks.gemmGflops());
        m.put("weight_read_gbps", readGBps);
        m.put("read_peak_gbps", peaks.readGBps());
        m.put("memory_fraction", readGBps / peaks.readGBps());
        m.put("gemm_time_at_peak_ms", flops / (peaks.gemmGflops() * 1e9) * 1e3);
        m.put("read_time_at_peak_ms", model.weightBytes() / (peaks.readGBps() * 1e9) * 1e3);
        m.put("step_ms", stepSeconds * 1e3);
        boolean timed = !Double.isNaN(gemmsAloneSeconds);
        m.put("gemms_alone_ms", timed ? gemmsAloneSeconds * 1e3 : null);
        m.put("step_over_gemms_alone", timed ? stepSeconds / gemmsAloneSeconds : null);
        return m;
    }
}
