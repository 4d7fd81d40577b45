import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.QualifiedName;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;

/**
 * One linear layer of GPT-2 124M, timed three ways on this machine's libtorch, at the rows of a decode step
 * (1, 16, 32) and of a chunked-prefill step (256):
 *   - addmm(bias, x, W) with W [in, out]: HF's Conv1D layout, what steer4j's program runs;
 *   - linear(x, Wt, bias) with Wt [out, in] contiguous: nn.Linear's layout (the same product);
 *   - mkldnn_linear with Wt converted to oneDNN's tensor once (x converted at each call).
 * Run from the repository root after `mvn package` (and bench-batch.sh, which writes the class path):
 *   java -cp "target/classes:$(cat bench-out/classpath.txt)" scripts/GemmLayouts.java
 */
public class GemmLayouts {
    public static void main(String[] args) {
        dev.steer4j.runtime.Torch.load(); // steer4j's thread settings, as the program runs
        JitModule m = new JitModule(new QualifiedName("__torch__.GemmLayouts"));
        // Each way cycles through enough copies of the weights (over 100 MB) that they stream from memory, as the
        // model's do, rather than staying in cache.
        m.define("""
                def make(self, b: int, k: int, n: int, copies: int) -> List[List[Tensor]]:
                    torch.manual_seed(0)
                    x = torch.randn([b, k])
                    bias = torch.randn([n])
                    ws: List[Tensor] = []
                    wts: List[Tensor] = []
                    wms: List[Tensor] = []
                    for i in range(copies):
                        w = torch.randn([k, n]) * 0.02
                        ws.append(w)
                        wts.append(w.t().contiguous())
                        wms.append(w.t().contiguous().to_mkldnn())
                    return [[x, bias, bias.to_mkldnn()], ws, wts, wms]
                def conv1d(self, x: Tensor, ws: List[Tensor], b: Tensor, reps: int) -> Tensor:
                    y = x
                    for i in range(reps):
                        y = torch.addmm(b, x, ws[i % len(ws)])
                    return y
                def linear(self, x: Tensor, wts: List[Tensor], b: Tensor, reps: int) -> Tensor:
                    y = x
                    for i in range(reps):
                        y = torch.linear(x, wts[i % len(wts)], b)
                    return y
                def onednn(self, x: Tensor, wms: List[Tensor], bm: Tensor, reps: int) -> Tensor:
                    y = x
                    for i in range(reps):
                        y = torch.mkldnn_linear(x.to_mkldnn(), wms[i % len(wms)], bm).to_dense()
                    return y
                def diff(self, x: Tensor, w: Tensor, b: Tensor, wt: Tensor) -> float:
                    return float((torch.addmm(b, x, w) - torch.linear(x, wt, b)).abs().max())
                """);
        int[][] shapes = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}};
        System.out.println("| rows | in × out | Conv1D addmm | Linear layout | oneDNN | Conv1D / Linear | max |diff| |");
        System.out.println("| ---: | --- | ---: | ---: | ---: | ---: | ---: |");
        for (int b : new int[]{1, 16, 32, 256}) {
            for (int[] s : shapes) {
                int copies = (int) Math.ceil(100e6 / (4.0 * s[0] * s[1]));
                IValue made = m.get_method("make").apply(new IValueVector(new IValue(b), new IValue(s[0]), new IValue(s[1]),
                        new IValue(copies)));
                org.bytedeco.pytorch.GenericList lists = made.toList();
                TensorVector small = lists.get(0).toTensorVector();
                Tensor x = small.get(0), bias = small.get(1), biasM = small.get(2);
                IValue ws = lists.get(1), wts = lists.get(2), wms = lists.get(3);
                double diff = m.get_method("diff").apply(new IValueVector(new IValue(x), new IValue(ws.toTensorVector().get(0)),
                        new IValue(bias), new IValue(wts.toTensorVector().get(0)))).toDouble();
                String[] ways = {"conv1d", "linear", "onednn"};
                IValue[][] operands = {{ws, new IValue(bias)}, {wts, new IValue(bias)}, {wms, new IValue(biasM)}};
                double[] ms = new double[3];
                int reps = 4 * copies;
                for (int round = 0; round < 3; round++) { // round 0 warms up; then interleaved, averaged
                    for (int k = 0; k < 3; k++) {
                        long t0 = System.nanoTime();
                        m.get_method(ways[k]).apply(new IValueVector(new IValue(x), operands[k][0], operands[k][1], new IValue(reps)));
                        if (round > 0) ms[k] += (System.nanoTime() - t0) / 1e6 / reps / 2;
                    }
                }
                System.out.printf("| %d | %d × %d | %.3f ms | %.3f ms | %.3f ms | %.2f× | %.1e |%n", b, s[0], s[1], ms[0], ms[1], ms[2],
                        ms[0] / ms[1], diff);
            }
        }
    }
}
