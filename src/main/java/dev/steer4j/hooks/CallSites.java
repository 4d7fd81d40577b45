package dev.steer4j.hooks;

import dev.steer4j.InvalidInputException;
import dev.steer4j.model.ModuleTree;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bytedeco.pytorch.Graph;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.JitNode;
import org.bytedeco.pytorch.Symbol;
import org.bytedeco.pytorch.Value;

/**
 * Finds where a submodule is called: the {@code prim::CallMethod[name="forward"]} nodes in the graph of
 * the nearest ancestor that calls it, whose target is reached from {@code self} by a chain of
 * {@code prim::GetAttr} equal to the rest of the module path ({@code h → 0} for {@code transformer.h.0}).
 *
 * <p>Attribute names are read from the graph's text: {@code JitNode.s(attr::name)} returns a dangling
 * string in this build of the presets.
 */
final class CallSites {
    private static final Pattern GET_ATTR = Pattern.compile(
            "^\\s*%(\\S+) : [^=]+ = prim::GetAttr\\[name=\"([^\"]+)\"\\]\\(%([^)\\s]+)\\)");
    private static final Pattern CALL_FORWARD = Pattern.compile(
            "^\\s*%(\\S+) : .* = prim::CallMethod\\[name=\"forward\"\\]\\(%([^,)\\s]+)");
    private static final int CALL_METHOD = Symbol.prim("CallMethod").asInt();

    /** One call of the module: the graph it is in, the owner of that graph, and the node. */
    record Site(JitModule owner, Graph graph, JitNode call) {}

    private CallSites() {}

    static List<Site> find(JitModule root, String modulePath) {
        if (ModuleTree.find(root, modulePath) == null || modulePath.isEmpty()) {
            throw new InvalidInputException("unknown module '" + modulePath + "' (see: steer4j modules)");
        }
        String[] parts = modulePath.split("\\.");
        for (int k = parts.length - 1; k >= 0; k--) {
            JitModule owner = ModuleTree.find(root, String.join(".", Arrays.copyOfRange(parts, 0, k)));
            if (owner == null || !owner.find_method("forward").has_value()) {
                continue;
            }
            Graph g = owner.get_method("forward").graph();
            List<Site> sites = callsOf(owner, g, Arrays.asList(parts).subList(k, parts.length));
            if (!sites.isEmpty()) {
                return sites;
            }
        }
        throw new InvalidInputException("module '" + modulePath + "' is not called through forward() by any ancestor;"
                + " it cannot be hooked");
    }

    private static List<Site> callsOf(JitModule owner, Graph g, List<String> chain) {
        String self = name(g.inputs().get(0));
        Map<String, String[]> getAttr = new HashMap<>();
        Map<String, String> callTarget = new HashMap<>();
        for (String line : g.toString().split("\n")) {
            Matcher m = GET_ATTR.matcher(line);
            if (m.find()) {
                getAttr.put(m.group(1), new String[]{m.group(2), m.group(3)});
                continue;
            }
            Matcher c = CALL_FORWARD.matcher(line);
            if (c.find()) {
                callTarget.put(c.group(1), c.group(2));
            }
        }
        List<Site> sites = new ArrayList<>();
        JitNode ret = g.return_node();
        for (JitNode n = g.nodes().front(); n.address() != ret.address(); n = n.next()) {
            if (n.kind().asInt() != CALL_METHOD || n.outputs().size() != 1) continue;
            String target = callTarget.get(name(n.output()));
            if (target != null && chain.equals(chainFromSelf(target, self, getAttr))) {
                sites.add(new Site(owner, g, n));
            }
        }
        return sites;
    }

    private static List<String> chainFromSelf(String value, String self, Map<String, String[]> getAttr) {
        List<String> chain = new ArrayList<>();
        String v = value;
        while (!v.equals(self)) {
            String[] ga = getAttr.get(v);
            if (ga == null) return List.of();
            chain.add(0, ga[0]);
            v = ga[1];
        }
        return chain;
    }

    static String name(Value v) {
        return v.hasDebugName() ? v.debugName().getString() : Long.toString(v.unique());
    }
}
