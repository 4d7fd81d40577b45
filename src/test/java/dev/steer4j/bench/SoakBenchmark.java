package dev.steer4j.bench;

import dev.steer4j.request.Sampling;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Devices;
import dev.steer4j.session.Edit;
import dev.steer4j.request.Request;
import dev.steer4j.request.Steer;
import dev.steer4j.session.SteeringSession;
import dev.steer4j.request.Positions;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.CompilationUnit;
import org.bytedeco.pytorch.FunctionVector;

/**
 * The soak benchmark of docs/ARCHITECTURE.md's ownership rules (not a timed test): a library JVM that keeps one
 * session for many calls, and one that loads and closes a model many times, should hold flat memory.
 *
 * <pre>scripts/bench-soak.sh [CALLS] [CYCLES]</pre>
 *
 * Phase 1: CALLS calls on one session of the built-in model, alternating per-request {@code run} (two rows,
 * coefficients that change every call) and {@code generate} under an edit whose coefficient changes too. Phase 2:
 * CYCLES load/close cycles of the {@code .pt} given. Readings: resident memory (/proc), the Java heap after a GC,
 * JavaCPP's live native pointers, and the functions in the model's TorchScript compilation unit.
 */
public final class SoakBenchmark {
    private SoakBenchmark() {}

    public static void main(String[] args) {
        Path model124m = Path.of(args[0]);
        int calls = args.length > 1 ? Integer.parseInt(args[1]) : 10_000;
        int cycles = args.length > 2 ? Integer.parseInt(args[2]) : 50;
        System.out.println("phase\tat\trss_mb\trss_mb_trimmed\theap_mb\tjavacpp_pointers\tcu_functions\tseconds");
        long t0 = System.nanoTime();
        try (Gpt2Model model = Gpt2Model.embeddedDefault(Devices.parse("cpu"));
             SteeringSession session = SteeringSession.open(model)) {
            float[] v = new float[model.width()];
            for (int i = 0; i < v.length; i++) v[i] = (float) Math.sin(i) / 4;
            Edit edit = session.add("transformer.h.1", v, 1.0);
            for (int i = 0; i <= calls; i++) {
                if (i == 0 || i == calls / 2 || i == calls) reading("calls", i, functions(model), t0);
                if (i == calls) break;
                double c = (i % 40) - 20;
                if (i % 2 == 0) {
                    session.run(List.of(
                            new Request("a", "I think dogs are ", List.of(new Steer("transformer.h.2", v, c, Positions.ALL)), 2,
                                    Sampling.GREEDY),
                            new Request("b", "My brother is", List.of(new Steer("transformer.h.2", v, -c, Positions.GENERATED)), 2,
                                    Sampling.GREEDY)));
                } else {
                    edit.setCoefficient(c / 4);
                    session.generate(List.of("I think dogs are "), 2, Sampling.GREEDY);
                }
            }
        }
        t0 = System.nanoTime();
        for (int i = 0; i <= cycles; i++) {
            if (i == 0 || i == 1 || i == cycles / 2 || i == cycles) reading("load_close", i, -1, t0); // 1: after the first load's one-time costs
            if (i == cycles) break;
            try (Gpt2Model m = Gpt2Model.load(model124m, null, Devices.parse("cpu"));
                 SteeringSession s = SteeringSession.open(m)) {
                s.generate(List.of("I think dogs are "), 1, Sampling.GREEDY);
            }
        }
    }

    private static long functions(Gpt2Model model) {
        try (CompilationUnit cu = model.module().type().compilation_unit(); FunctionVector f = cu.get_functions()) {
            return f.size();
        }
    }

    private static void reading(String phase, int at, long cuFunctions, long t0) {
        System.gc();
        Runtime rt = Runtime.getRuntime();
        double rss = Memory.rssMb();
        Pointer.trimMemory(); // what glibc keeps of freed memory, handed back: the rest is really in use
        System.out.printf(Locale.ROOT, "%s\t%d\t%.1f\t%.1f\t%.1f\t%d\t%d\t%.1f%n", phase, at, rss, Memory.rssMb(),
                (rt.totalMemory() - rt.freeMemory()) / 1e6, Pointer.totalCount(), cuFunctions, (System.nanoTime() - t0) / 1e9);
    }
}
