package dev.steer4j.runtime;

import dev.steer4j.InvalidInputException;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.pytorch.global.torch;

/**
 * Loads libtorch once per JVM and sets how TorchScript executes steer4j's graphs.
 *
 * <p>With an empty JavaCPP cache the first {@code Loader.load(torch.class)} crashes the JVM (SIGSEGV);
 * extracting the native resources first avoids it, so we always do that before loading.
 */
public final class Torch {
    private static volatile boolean loaded;

    private Torch() {}

    /** JavaCPP's system property for its resident-memory ceiling; read once, when its Pointer class loads. */
    static final String MAX_PHYSICAL_BYTES = "org.bytedeco.javacpp.maxPhysicalBytes";

    public static synchronized void load() {
        if (loaded) {
            return;
        }
        // With a ceiling set (its default is a multiple of the Java heap), JavaCPP reads the process's resident
        // size from /proc at every native object it registers: ~40 per generate call and a few per step, which
        // cost a fifth of a tiny-model step and a third of its first token (BENCHMARKS.md). It would also throw
        // OutOfMemoryError once a model's weights outgrow the ceiling. steer4j frees its native memory
        // explicitly, so the ceiling is off unless the user sets it; it only takes effect if no JavaCPP class
        // has been used yet in this JVM.
        if (System.getProperty(MAX_PHYSICAL_BYTES) == null) System.setProperty(MAX_PHYSICAL_BYTES, "0");
        String platform = Loader.getPlatform();
        try {
            Loader.cacheResources(torch.class, "/org/bytedeco/pytorch/" + platform + "/");
            Loader.load(torch.class);
            // TorchScript's profiling executor specializes each graph to the shapes of its first runs, but ours
            // change every call (a T-token prefill, then 1-token steps, any batch). With profiling off, graphs
            // still get the shape-independent optimizations. Measured (BENCHMARKS.md): the first 124M batch-16
            // prefill peaked ~130 MB lower and prefills ran faster, decode steps unchanged.
            torch.getProfilingMode().put(false);
        } catch (Throwable e) {
            throw new InvalidInputException("cannot load libtorch natives for " + platform + ": " + oneLine(e)
                    + " (is the org.bytedeco:pytorch jar for this platform on the class path?)", e);
        }
        loaded = true;
        Threads.apply();
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.replace('\n', ' ');
    }
}
