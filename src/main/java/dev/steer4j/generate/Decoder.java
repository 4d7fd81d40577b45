package dev.steer4j.generate;

import org.bytedeco.pytorch.Tensor;

/** Runs a batch of prompts forward; returns each row's last-position logits {@code [B, V]}. */
interface Decoder extends AutoCloseable {
    Tensor prefill();

    @Override
    void close();
}
