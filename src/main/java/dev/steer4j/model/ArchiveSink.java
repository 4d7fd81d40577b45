package dev.steer4j.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.function.Consumer;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FunctionPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Namespace;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * Saves a TorchScript module through a C++ {@code std::ostream} whose bytes Java writes ({@code
 * native/steer4j/archive_sink.h}, compiled by JavaCPP at build time). Saving to a file name instead lets
 * libtorch meet a write error (a full disk) in a destructor, which aborts the JVM; here a failed write is
 * kept and thrown once libtorch has finished.
 */
@Platform(include = "steer4j/archive_sink.h")
@Namespace("steer4j")
final class ArchiveSink extends Pointer {
    static {
        Loader.load();
    }

    private ArchiveSink(Writer writer) {
        allocate(writer);
    }

    private native void allocate(Writer writer);

    private native @Cast("std::ostream*") Pointer stream();

    /**
     * Calls {@code save} with an {@code std::ostream*} whose bytes go to {@code out}, then throws the first write
     * error if there was one. (No libtorch types here: JavaCPP's build sees only steer4j's own classes.)
     */
    static void write(WritableByteChannel out, Consumer<Pointer> save) throws IOException {
        try (Writer writer = new Writer(out); ArchiveSink sink = new ArchiveSink(writer)) {
            save.accept(sink.stream());
            if (writer.failure != null) throw writer.failure;
        }
    }

    /** The callback: each block libtorch writes, in order. It must not throw into C++, so it keeps the first error. */
    static final class Writer extends FunctionPointer {
        static {
            Loader.load();
        }

        private final WritableByteChannel out;
        private IOException failure;

        Writer(WritableByteChannel out) {
            this.out = out;
            allocate();
        }

        private native void allocate();

        public void call(@Cast("const char*") BytePointer data, @Cast("size_t") long n) {
            if (failure != null) return; // the archive is lost: let libtorch finish without writing more
            try {
                ByteBuffer block = data.limit(n).asByteBuffer();
                while (block.hasRemaining()) out.write(block);
            } catch (IOException e) {
                failure = e;
            } catch (RuntimeException e) {
                failure = new IOException(e);
            }
        }
    }
}
