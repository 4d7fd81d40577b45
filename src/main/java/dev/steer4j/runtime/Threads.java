package dev.steer4j.runtime;

import dev.steer4j.InvalidInputException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.global.torch;

/**
 * How many threads libtorch computes with. Left alone, libtorch starts one OpenMP thread per core and
 * its OpenBLAS starts its own pthreads beside them; on a small machine the two pools spin against each
 * other. steer4j therefore sets the intra-op threads itself, when libtorch loads, for the launcher and
 * library users alike. {@code STEER4J_THREADS} (or the system property {@code steer4j.threads}) overrides:
 * a number, or {@code native} for libtorch's own choice.
 */
public final class Threads {
    static final String PROPERTY = "steer4j.threads";
    static final String ENV = "STEER4J_THREADS";
    private static String policy = "not applied";

    private Threads() {}

    /** Applies the setting; called once by {@link Torch#load()}. */
    static void apply() {
        String asked = System.getProperty(PROPERTY, System.getenv(ENV));
        if (asked == null || asked.isBlank()) {
            int n = defaultIntraOpThreads();
            torch.set_num_threads(n);
            policy = "steer4j default (" + n + ")";
        } else if (asked.trim().equals("native")) {
            policy = "libtorch's own";
        } else {
            int n;
            try {
                n = Integer.parseInt(asked.trim());
            } catch (NumberFormatException e) {
                throw new InvalidInputException(ENV + " must be a number of threads or 'native', got '" + asked + "'");
            }
            if (n < 1) throw new InvalidInputException(ENV + " must be >= 1, got " + n);
            torch.set_num_threads(n);
            policy = ENV + "=" + n;
        }
    }

    /** Measured on 2-core machines of this kind (BENCHMARKS.md, scripts/bench-threads.sh). */
    static int defaultIntraOpThreads() {
        return 1;
    }

    /** Sets the intra-op threads explicitly (bench --threads). */
    public static void set(int n) {
        Torch.load();
        torch.set_num_threads(n);
        policy = "set explicitly (" + n + ")";
    }

    /** The effective settings, for bench reports. */
    public static Map<String, Object> report() {
        Torch.load();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("policy", policy);
        m.put("intra_op_threads", torch.get_num_threads());
        m.put("interop_threads", torch.get_num_interop_threads());
        m.put("cores", Runtime.getRuntime().availableProcessors());
        m.put("openmp", torch.hasOpenMP());
        m.put("blas", blas());
        for (String v : new String[]{"OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE"}) {
            m.put(v.toLowerCase(java.util.Locale.ROOT), System.getenv(v));
        }
        return m;
    }

    private static String blas() {
        String config = torch.show_config().getString();
        int i = config.indexOf("BLAS_INFO=");
        if (i < 0) return "unknown";
        int end = config.indexOf(',', i);
        String info = config.substring(i + "BLAS_INFO=".length(), end < 0 ? config.length() : end).trim();
        return info.equals("open") ? "OpenBLAS" : info;
    }
}
