package dev.steer4j.bench;

import dev.steer4j.generate.Generator;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.request.Positions;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Hook overhead per forward pass (a 16-token prefill of the tiny random reference model) with 0, 1 and all blocks
 * hooked by an add. Run with {@code scripts/jmh}; not part of the test suite.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class HookOverheadBenchmark {
    @Param({"0", "1", "all"})
    public String hooked;

    private HookedModel hm;
    private Generator generator;
    private final int[][] prompt = {{40, 892, 6844, 389, 220, 464, 3139, 286, 4881, 318, 8888, 314, 1254, 40, 892, 6844}};

    @Setup(Level.Trial)
    public void setUp() {
        Gpt2Model model = dev.steer4j.Fixtures.converted();
        hm = new HookedModel(model);
        int blocks = hooked.equals("all") ? model.layers() : Integer.parseInt(hooked);
        float[] v = new float[model.width()];
        v[0] = 1;
        for (int l = 0; l < blocks; l++) {
            hm.hookOutput("transformer.h." + l, new HookOp.Add(
                    Tensors.floats(v, new long[]{v.length}, model.device(), model.dtype()), 4, Positions.ALL, false));
        }
        generator = new Generator(hm.model(), hm);
    }

    @Benchmark
    public float[][] forward() {
        return generator.lastLogits(prompt);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        hm.close();
    }
}
