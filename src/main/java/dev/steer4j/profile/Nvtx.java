package dev.steer4j.profile;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * NVTX ranges, for Nsight Systems ({@code nsys}) and other tools that attach through NVTX. Compiled by
 * JavaCPP against the vendored header-only NVTX 3 ({@code native/nvtx3}) — no CUDA needed: a tool makes
 * itself known with {@code NVTX_INJECTION64_PATH}, and without one each call does nothing.
 */
@Platform(include = "nvtx3/nvToolsExt.h", link = "dl")
final class Nvtx {
    /** Whether a tool asked for NVTX and the binding loaded; otherwise no range is ever pushed. */
    static final boolean ACTIVE = loadIfInjected();

    private Nvtx() {}

    static native int nvtxRangePushA(String message);

    static native int nvtxRangePop();

    private static boolean loadIfInjected() {
        if (System.getenv("NVTX_INJECTION64_PATH") == null) return false;
        try {
            Loader.load();
            return true;
        } catch (Throwable e) { // a missing or broken binding must not stop a profiled run
            System.err.println("steer4j: NVTX ranges off: " + e);
            return false;
        }
    }
}
