package dev.steer4j.generate;

/**
 * A batch of prompts laid out left-padded, as Hugging Face does: row-major {@code [B, width]} token ids,
 * model positions counted from each row's first real token (pads get 1, which cannot reach a real token:
 * pads are masked as keys), hook positions (pads -1) and each row's length.
 */
public record LeftPadding(int rows, int width, long[] ids, long[] positions, long[] hookPositions, long[] lengths) {
    /** The id a pad carries (end of text). */
    public static final long PAD = 50256;

    public static LeftPadding of(int[][] prompts) {
        int rows = prompts.length;
        int width = 0;
        for (int[] p : prompts) width = Math.max(width, p.length);
        long[] ids = new long[rows * width];
        long[] pos = new long[rows * width];
        long[] hookPos = new long[rows * width];
        long[] lengths = new long[rows];
        for (int b = 0; b < rows; b++) {
            int offset = width - prompts[b].length;
            lengths[b] = prompts[b].length;
            for (int t = 0; t < width; t++) {
                int i = b * width + t;
                boolean real = t >= offset;
                ids[i] = real ? prompts[b][t - offset] : PAD;
                pos[i] = real ? t - offset : 1;
                hookPos[i] = real ? t - offset : -1;
            }
        }
        return new LeftPadding(rows, width, ids, pos, hookPos, lengths);
    }

    /** Key padding {@code [B, capacity]}: true at each row's left pads, false elsewhere. */
    public boolean[] keyPadding(int capacity) {
        boolean[] pad = new boolean[rows * capacity];
        for (int b = 0; b < rows; b++) {
            for (int t = 0; t < width - lengths[b]; t++) pad[b * capacity + t] = true;
        }
        return pad;
    }
}
