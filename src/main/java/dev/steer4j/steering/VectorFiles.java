package dev.steer4j.steering;

import dev.steer4j.InvalidInputException;
import dev.steer4j.io.IoErrors;
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

    private static boolean isGguf(Path file) {
        return file.getFileName().toString().toLowerCase().endsWith(".gguf");
    }
}
