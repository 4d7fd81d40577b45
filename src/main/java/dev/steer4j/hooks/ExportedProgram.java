package dev.steer4j.hooks;

import java.util.List;
import org.bytedeco.pytorch.JitModule;

/** A hooked model's current hooks rewritten into a program of its own, to be saved (see {@code steer4j export}). */
public record ExportedProgram(JitModule program, List<Hook> hooks) {
    /**
     * One hook of an exported program. Its graph reads {@code applied} on the state module; {@code vector}
     * (edits other than ablation) holds the unscaled vector, so a coefficient c is set by
     * {@code applied.copy_(c * vector)}.
     */
    public record Hook(long id, String module, String op, String positions, boolean perRow,
                       double coefficient, String applied, String vector) {}
}
