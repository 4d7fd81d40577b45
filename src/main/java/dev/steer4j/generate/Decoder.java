package dev.steer4j.generate;

import org.bytedeco.pytorch.Tensor;

/** Runs a batch of prompts forward one token at a time; returns last-position logits {@code [B, V]}. */
public interface Decoder extends AutoCloseable {
    Tensor prefill();

    /** Appends one token to every row and returns the logits that follow it. */
    Tensor step(long[] nextTokens);

    @Override
    void close();
}
