package dev.steer4j.generate;

import dev.steer4j.request.Sampling;
/** The token choosers of one batch: row b has its own {@link RequestSampler}. */
final class TokenSampler {
    private final RequestSampler[] rows;

    /** All rows with the same settings; row b draws from stream b of the seed. */
    TokenSampler(Sampling s, int rows) {
        this.rows = new RequestSampler[rows];
        for (int b = 0; b < rows; b++) this.rows[b] = new RequestSampler(s, b);
    }

    /** Row b samples with {@code settings[b]} from stream {@code streams[b]} of its own seed (greedy rows: argmax). */
    TokenSampler(Sampling[] settings, int[] streams) {
        rows = new RequestSampler[settings.length];
        for (int b = 0; b < rows.length; b++) rows[b] = new RequestSampler(settings[b], streams[b]);
    }

    int sample(float[] logits, int offset, int vocab, int row) {
        return rows[row].sample(logits, offset, vocab);
    }
}
