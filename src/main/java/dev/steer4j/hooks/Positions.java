package dev.steer4j.hooks;

import dev.steer4j.InvalidInputException;

/**
 * Where along the sequence a hook acts, in absolute positions counted from each row's first real
 * token (so left padding and the KV cache don't move them): every position, the prompt, the generated
 * tokens, from position K on, or {@code aligned}: vector row p at position p.
 */
public record Positions(Kind kind, int from) {
    public enum Kind { ALL, PROMPT, GENERATED, FROM, ALIGNED }

    public static final Positions ALL = new Positions(Kind.ALL, 0);
    public static final Positions PROMPT = new Positions(Kind.PROMPT, 0);
    public static final Positions GENERATED = new Positions(Kind.GENERATED, 0);
    public static final Positions ALIGNED = new Positions(Kind.ALIGNED, 0);

    public static Positions from(int k) {
        if (k < 0) throw new InvalidInputException("positions from:K needs K >= 0, got " + k);
        return new Positions(Kind.FROM, k);
    }

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

    /** TorchScript: a bool {@code [Bc, T]} of the positions this hook acts on ({@code pos}, {@code plen} in scope). */
    String maskExpression(String vectorAttr, boolean perRow) {
        return switch (kind) {
            case ALL -> "pos >= 0";
            case PROMPT -> "(pos >= 0) & (pos < plen)";
            case GENERATED -> "pos >= plen";
            case FROM -> "pos >= " + from;
            case ALIGNED -> "(pos >= 0) & (pos < self." + vectorAttr + ".size(" + (perRow ? 1 : 0) + "))";
        };
    }

    @Override
    public String toString() {
        return kind == Kind.FROM ? "from:" + from : kind.name().toLowerCase();
    }
}
