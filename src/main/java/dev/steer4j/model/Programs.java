package dev.steer4j.model;

import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.ClassType;
import org.bytedeco.pytorch.CompilationUnit;
import org.bytedeco.pytorch.Function;
import org.bytedeco.pytorch.FunctionVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.QualifiedName;

/**
 * What libtorch cannot do from two threads at once: compile TorchScript, clone a module (the clone's new class
 * types and methods are registered in the source's compilation unit, whose name mangler and tables are not
 * thread-safe), and drop those methods again. Every such change in this JVM runs under one lock; running a
 * program does not take it.
 */
public final class Programs {
    private static final ReentrantLock LOCK = new ReentrantLock();

    private Programs() {}

    /** Runs {@code work} holding the compilation lock. */
    public static <T> T locked(Supplier<T> work) {
        LOCK.lock();
        try {
            return work.get();
        } finally {
            LOCK.unlock();
        }
    }

    public static void locked(Runnable work) {
        locked(() -> {
            work.run();
            return null;
        });
    }

    /**
     * Frees a clone made by {@code clone(true)}: its methods leave the shared compilation unit (else each rebuild
     * would keep its graphs and executors there for the life of the model), then the module itself. Only its
     * class types stay registered; libtorch has no way to drop a type. Every module under {@code clone} must be
     * the clone's own (never a submodule shared with another program, whose methods would go too).
     */
    public static void discardClone(JitModule clone) {
        if (clone == null || clone.isNull()) return;
        locked(() -> {
            try (PointerScope handles = new PointerScope()) {
                Set<String> seen = new HashSet<>();
                for (JitModule m : ModuleTree.modules(clone).values()) dropMethods(m, seen);
                dropMethods(clone, seen);
            }
            clone.close();
        });
    }

    private static void dropMethods(JitModule m, Set<String> seen) {
        try (ClassType type = m.type()) {
            String typeName = type.str().getString();
            if (!seen.add(typeName)) return;
            try (CompilationUnit cu = type.compilation_unit(); FunctionVector methods = type.methods()) {
                for (long i = methods.size() - 1; i >= 0; i--) {
                    Function f = methods.get(i);
                    String name = f.name().getString();
                    try (QualifiedName q = f.qualname()) {
                        type.unsafeRemoveMethod(name);
                        cu.unsafeRemoveMethod(q);
                    }
                }
            }
        }
    }
}
