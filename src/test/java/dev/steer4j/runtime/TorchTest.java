package dev.steer4j.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

class TorchTest {
    @Test
    void loadingTurnsTorchScriptProfilingModeOff() {
        Torch.load();
        // BENCHMARKS.md: with profiling on, the first batch prefill peaks ~130 MB higher and prefills run slower
        assertFalse(torch.getProfilingMode().get(), "TorchScript profiling mode after Torch.load()");
    }

    @Test
    void loadingTurnsJavaCppsResidentMemoryCeilingOff() {
        Torch.load();
        // a /proc read per native object otherwise (BENCHMARKS.md); only when no JavaCPP class was used first
        assertEquals(0, Pointer.maxPhysicalBytes(), "JavaCPP maxPhysicalBytes after Torch.load()");
    }
}
