package dev.steer4j.steering;

import dev.steer4j.InvalidInputException;
import dev.steer4j.io.IoErrors;
import dev.steer4j.io.OutputFiles;
import dev.steer4j.safetensors.SafetensorsFile;
import dev.steer4j.steering.io.GgufControlVector;
import dev.steer4j.steering.io.SteeringVectorFile;
import dev.steer4j.steering.io.VectorSet;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reads and writes steering vectors by extension: {@code .gguf} control vectors, else safetensors. */
public final class VectorFiles {
    private VectorFiles() {}

    public static VectorSet read(Path file) {
        IoErrors.requireFile(file, "steering vector file");
        try {
            return isGguf(file) ? GgufControlVector.read(file) : SteeringVectorFile.read(file);
        } catch (InvalidInputException e) {
            throw new InvalidInputException(e.getMessage());
        } catch (IOException e) {
            throw new InvalidInputException("cannot read " + file + ": " + IoErrors.reason(e));
        }
    }

    public static void write(Path file, VectorSet vectors, String modelHint) {
        try {
            if (isGguf(file)) GgufControlVector.write(file, vectors, modelHint);
            else SteeringVectorFile.write(file, vectors);
        } catch (InvalidInputException e) {
            throw new InvalidInputException(e.getMessage());
        } catch (IOException e) {
            throw new InvalidInputException("cannot write " + file + ": " + IoErrors.reason(e));
        }
    }

    /**
     * What {@code vector --out} may replace: a steering vector file, as {@link #read} reads one, that is, a GGUF
     * control vector, or a safetensors file of module vectors ({@code [d]} or {@code [T, d]} tensors named by
     * module). A checkpoint's weights (tensors named {@code ….weight} / {@code ….bias}, or of other ranks) are not
     * one. Reads the safetensors header only, and GGUF files only up to 64 MiB (a control vector is far smaller).
     */
    public static final OutputFiles.Kind KIND = new OutputFiles.Kind() {
        @Override public String description() { return "a steering vector file (safetensors or GGUF)"; }

        @Override public boolean matches(Path file) throws IOException { return isVectorFile(file); }
    };

    private static final long MAX_GGUF_VECTOR_BYTES = 64L << 20;

    static boolean isVectorFile(Path file) throws IOException {
        byte[] magic = new byte[4];
        try (InputStream in = Files.newInputStream(file)) {
            if (in.readNBytes(magic, 0, 4) < 4) return false;
        }
        if (new String(magic, StandardCharsets.ISO_8859_1).equals("GGUF")) {
            if (Files.size(file) > MAX_GGUF_VECTOR_BYTES) return false;
            try {
                GgufControlVector.read(file);
                return true;
            } catch (InvalidInputException e) {
                return false; // a model, or not GGUF after all
            }
        }
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            if (f.tensors().isEmpty()) return false;
            for (var e : f.tensors().entrySet()) {
                String name = e.getKey();
                int rank = e.getValue().shape().length;
                if (name.endsWith(".weight") || name.endsWith(".bias") || rank < 1 || rank > 2) return false;
            }
            return true;
        } catch (InvalidInputException e) {
            return false; // not safetensors
        }
    }

    private static boolean isGguf(Path file) {
        return file.getFileName().toString().toLowerCase().endsWith(".gguf");
    }
}
