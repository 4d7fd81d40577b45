package dev.steer4j.request;

import dev.steer4j.InvalidInputException;

/**
 * Where along the sequence a hook acts, in absolute positions counted from each row's first real
 * token (so left padding and the KV cache don't move them): every position, the prompt, the generated
 * tokens, from position K on, or {@code aligned}: vector row p at position p.
 *
 * @param kind which positions
 * @param from K, for {@link Kind#FROM}
 */
public record Positions(Kind kind, int from) {
    /** Which positions. */
    public enum Kind {
        /** Every position. */
        ALL,
        /** The prompt's. */
        PROMPT,
        /** The generated tokens'. */
        GENERATED,
        /** From position K on. */
        FROM,
        /** Vector row p at position p (a {@code [T, d]} vector). */
        ALIGNED
    }

    /** Every position. */
    public static final Positions ALL = new Positions(Kind.ALL, 0);
    /** The prompt's positions. */
    public static final Positions PROMPT = new Positions(Kind.PROMPT, 0);
    /** The generated tokens' positions. */
    public static final Positions GENERATED = new Positions(Kind.GENERATED, 0);
    /** Row p of a {@code [T, d]} vector at position p. */
    public static final Positions ALIGNED = new Positions(Kind.ALIGNED, 0);

    /**
     * From position {@code k} on.
     *
     * @param k the first position, from 0
     * @return the positions
     * @throws InvalidInputException if {@code k} is negative
     */
    public static Positions from(int k) {
        if (k < 0) throw new InvalidInputException("positions from:K needs K >= 0, got " + k);
        return new Positions(Kind.FROM, k);
    }

    /**
     * Parses {@code all}, {@code prompt}, {@code generated}, {@code from:K} or {@code aligned}.
     *
     * @param s the spelling
     * @return the positions
     * @throws InvalidInputException if it is none of them
     */
    public static Positions parse(String s) {
        String t = s.trim();
        switch (t) {
            case "all": return ALL;
            case "prompt": return PROMPT;
            case "generated": return GENERATED;
            case "aligned": return ALIGNED;
            default:
                if (t.startsWith("from:")) {
                    try {
                        return from(Integer.parseInt(t.substring(5)));
                    } catch (NumberFormatException e) {
                        throw new InvalidInputException("bad positions '" + s + "': from:K needs an integer K");
                    }
                }
                throw new InvalidInputException("bad positions '" + s + "': use all, prompt, generated, from:K or aligned");
        }
    }

    @Override
    public String toString() {
        return kind == Kind.FROM ? "from:" + from : kind.name().toLowerCase();
    }
}
