package dev.steer4j.generate;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/** Runs a batch of prompts forward one token at a time; returns last-position logits {@code [B, V]}. */
public interface Decoder extends AutoCloseable {
    Tensor prefill();

    /** Appends one token to every row and returns the logits that follow it. */
    Tensor step(long[] nextTokens);

    /** Appends one token to every row, then overwrites {@code nextTokens} with each row's most likely next token. */
    default void stepGreedy(long[] nextTokens) {
        try (PointerScope scope = new PointerScope()) {
            Generator.argmaxInto(step(nextTokens), nextTokens);
        }
    }

    @Override
    void close();
}
