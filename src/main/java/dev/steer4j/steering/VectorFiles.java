package dev.steer4j.steering;

import dev.steer4j.IoErrors;
import dev.steer4j.UserError;
import dev.steer4j.steering.io.GgufControlVector;
import dev.steer4j.steering.io.SteeringVectorFile;
import dev.steer4j.steering.io.VectorSet;
import java.io.IOException;
import java.nio.file.Path;

/** Reads and writes steering vectors by extension: {@code .gguf} control vectors, else safetensors. */
public final class VectorFiles {
    private VectorFiles() {}

    public static VectorSet read(Path file) {
        IoErrors.requireFile(file, "steering vector file");
        try {
            return isGguf(file) ? GgufControlVector.read(file) : SteeringVectorFile.read(file);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        } catch (IOException e) {
            throw new UserError("cannot read " + file + ": " + IoErrors.reason(e));
        }
    }

    public static void write(Path file, VectorSet vectors, String modelHint) {
        try {
            if (isGguf(file)) GgufControlVector.write(file, vectors, modelHint);
            else SteeringVectorFile.write(file, vectors);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        } catch (IOException e) {
            throw new UserError("cannot write " + file + ": " + IoErrors.reason(e));
        }
    }

    private static boolean isGguf(Path file) {
        return file.getFileName().toString().toLowerCase().endsWith(".gguf");
    }
}
