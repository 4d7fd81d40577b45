package dev.steer4j.hooks;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Graph;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.JitNode;
import org.bytedeco.pytorch.Symbol;
import org.bytedeco.pytorch.TensorType;
import org.bytedeco.pytorch.Type;
import org.bytedeco.pytorch.Value;
import org.bytedeco.pytorch.ValueVector;
import org.bytedeco.pytorch.global.torch;

/**
 * The graph surgery of one hook in a cloned program: at every call of the hooked module ({@link CallSites}), a
 * call of the hook's method on the state module is inserted after the call (output hooks; a tuple output is
 * unpacked, element 0 edited, re-packed) or before it (input hooks), and later uses are redirected.
 */
final class GraphRewrite {
    /** A hook as the graph sees it: its id (method {@code hookN}), module path, side, and whether it is a plain add. */
    record Site(long id, String module, boolean input, boolean plainAdd) {}

    private GraphRewrite() {}

    static void rewrite(JitModule clone, JitModule st, Site h) {
        for (CallSites.Site site : CallSites.find(clone, h.module())) {
            if (!site.owner().hasattr(HookedModel.STATE)) {
                site.owner().register_module(HookedModel.STATE, st);
            }
            Graph g = site.graph();
            Value self = g.inputs().get(0);
            JitNode call = site.call();
            if (h.input()) {
                g.setInsertPoint(call);
                Value arg = call.input(1);
                Value edited = insertHookCall(g, self, h, arg);
                call.replaceInput(1, edited);
            } else {
                g.setInsertPoint(call.next());
                Value out = call.output();
                if (isTuple(out)) {
                    JitNode unpack = g.insertNode(g.createTupleUnpack(out));
                    Value edited = insertHookCall(g, self, h, unpack.output(0));
                    ValueVector items = new ValueVector();
                    items.push_back(edited);
                    for (long i = 1; i < unpack.outputs().size(); i++) items.push_back(unpack.output(i));
                    JitNode tuple = g.insertNode(g.createTuple(items));
                    out.replaceAllUsesAfterNodeWith(tuple, tuple.output());
                } else {
                    Value edited = insertHookCall(g, self, h, out);
                    out.replaceAllUsesAfterNodeWith(edited.node(), edited);
                }
            }
            g.lint();
        }
    }

    // intern(): enums returned by native calls are fresh instances, not the Java constants.
    private static boolean isTuple(Value v) {
        return v.type().get().kind().intern() == torch.TypeKind.TupleType;
    }

    private static Value insertHookCall(Graph g, Value self, Site h, Value x) {
        Value st = g.insertGetAttr(self, HookedModel.STATE);
        if (h.plainAdd()) {
            // The common case, x + coeff·v everywhere, inlined as one aten::add: no method call per forward.
            Value delta = g.insertGetAttr(st, "d" + h.id());
            Value one = g.insertConstant(new IValue(1L));
            JitNode add = g.create(Symbol.aten("add"), new ValueVector(x, delta, one), 1);
            add.output().setType(x.type());
            g.insertNode(add);
            return add.output();
        }
        long id = h.id();
        JitNode call = g.create(Symbol.prim("CallMethod"), new ValueVector(st, x), 1);
        call.s_(Symbol.attr("name"), new BytePointer("hook" + id));
        call.output().setType(x.type());
        g.insertNode(call);
        return call.output();
    }

    static Type.TypePtr tensorType() {
        return new Type.TypePtr(TensorType.get());
    }

}
