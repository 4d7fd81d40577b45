package dev.steer4j.model;

import org.bytedeco.pytorch.JitModule;

/**
 * What a {@link Generator} runs, asked afresh at every call: the module (the loaded one, or a hooked clone)
 * and the listener that feeds its hooks. So a generator never runs a hook set that has since changed.
 */
public interface ProgramSource {
    JitModule module();

    ForwardListener listener();
}
