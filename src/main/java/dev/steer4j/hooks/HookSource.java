package dev.steer4j.hooks;

import dev.steer4j.request.Positions;
import java.util.Locale;

/**
 * Renders one hook as a TorchScript method on the hook-state module. Names: {@code d<id>} the vector
 * already multiplied by its coefficient, {@code v<id>} a direction, {@code cap<id>} the capture list.
 */
final class HookSource {
    private HookSource() {}

    /** The state attribute a vector-carrying hook reads. */
    static String attribute(long id, HookOp op) {
        return (op instanceof HookOp.Ablate ? "v" : "d") + id;
    }

    static String method(long id, HookOp op) {
        String head = String.format(Locale.ROOT, "def hook%d(self, x: Tensor) -> Tensor:%n", id);
        if (op instanceof HookOp.Store c) {
            return head + String.format(Locale.ROOT, "    self.cap%1$d.append(x.detach().clone())%n"
                    + "    if len(self.cap%1$d) > %2$d:%n        self.cap%1$d.pop(0)%n    return x%n", id, c.history());
        }
        HookOp.VectorOp e = (HookOp.VectorOp) op;
        Positions where = e.positions();
        boolean perRow = e.perRow();
        String attr = attribute(id, op);
        String edit = op instanceof HookOp.Add ? "x + v"
                : op instanceof HookOp.NormPreservingAdd ? "(x + v) * (x.norm(2, [-1], True) / (x + v).norm(2, [-1], True))"
                : "x - (x * v).sum(-1, keepdim=True) * v";
        StringBuilder s = new StringBuilder(head);
        if (where.kind() == Positions.Kind.ALIGNED && perRow) {
            // [B, T, d]: each row's own aligned vectors, gathered at that row's positions
            s.append(String.format(Locale.ROOT,
                    "    pos = self.positions%n"
                    + "    vt = self.%1$s.index_select(0, self.rows)%n"
                    + "    v = vt.gather(1, pos.clamp(0, vt.size(1) - 1).unsqueeze(-1).expand(-1, -1, vt.size(2)))%n", attr));
        } else if (where.kind() == Positions.Kind.ALIGNED) {
            // vector row p goes to absolute position p; positions past the vector (and pads) get nothing
            s.append(String.format(Locale.ROOT,
                    "    pos = self.positions%n"
                    + "    v = torch.embedding(self.%1$s, pos.clamp(0, self.%1$s.size(0) - 1))%n", attr));
        } else if (perRow) {
            s.append(String.format(Locale.ROOT, "    v = self.%s.index_select(0, self.rows).unsqueeze(1)%n", attr));
        } else {
            s.append(String.format(Locale.ROOT, "    v = self.%s%n", attr));
        }
        if (where.kind() == Positions.Kind.ALL) {
            // Pads need no exclusion: they are masked as keys, so nothing they hold reaches a real token.
            s.append("    return ").append(edit).append('\n');
            return s.toString();
        }
        if (where.kind() != Positions.Kind.ALIGNED) {
            s.append("    pos = self.positions\n");
        }
        s.append("    plen = self.prompt_lengths.index_select(0, self.rows).unsqueeze(1)\n");
        s.append("    m = (").append(maskExpression(where, attr, perRow)).append(").unsqueeze(-1)\n");
        s.append("    return torch.where(m, ").append(edit).append(", x)\n");
        return s.toString();
    }

    /** TorchScript: a bool {@code [Bc, T]} of the positions this hook acts on ({@code pos}, {@code plen} in scope). */
    private static String maskExpression(Positions where, String vectorAttr, boolean perRow) {
        return switch (where.kind()) {
            case ALL -> "pos >= 0";
            case PROMPT -> "(pos >= 0) & (pos < plen)";
            case GENERATED -> "pos >= plen";
            case FROM -> "pos >= " + where.from();
            case ALIGNED -> "(pos >= 0) & (pos < self." + vectorAttr + ".size(" + (perRow ? 1 : 0) + "))";
        };
    }
}
