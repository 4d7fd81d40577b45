package dev.steer4j.io;

import dev.steer4j.InvalidInputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The one rule for every file steer4j writes, checked before any work so that a refusal touches nothing:
 * <ul>
 *   <li>an output is never one of the same command's inputs, by file identity ({@link #sameFile}: through
 *       {@code ./}, {@code ..}, symbolic links and hard links), since writing it would destroy what is read;</li>
 *   <li>an existing output must be of the kind the command writes ({@link Kind}): a results file, a vector
 *       file, a {@code .pt} archive, a trace. Anything else (someone's notes, a checkpoint's weights, a folder,
 *       a device) is refused untouched. An empty file holds nothing to lose and may be replaced.</li>
 * </ul>
 * Files are named as the caller's user knows them ({@link Named}): the CLI passes its flags ({@code --out},
 * {@code --model}), a library caller plain words ("output", "input"), so the one message fits both.
 * Writing itself stays {@link AtomicFiles}'.
 */
public final class OutputFiles {
    /** A file and how the user named it: a flag ({@code --model}) or a word ("input"). */
    public record Named(String label, Path path) {
        @Override
        public String toString() {
            return label + " " + path;
        }
    }

    /** What an existing output must be for a command to replace it. */
    public interface Kind {
        /** For the message: "a steering vector file (safetensors or GGUF)". */
        String description();

        /** Whether {@code file} (an existing non-empty regular file) is of this kind; reads as little as it can. */
        boolean matches(Path file) throws IOException;
    }

    private OutputFiles() {}

    /** Both rules: {@code out} is none of {@code inputs}, and if it exists it is of {@code kind}. */
    public static void check(Named out, Kind kind, List<Named> inputs) {
        requireDistinct(out, inputs);
        requireKind(out, kind);
    }

    /** The first rule only: {@code out} is none of {@code inputs} (by identity). */
    public static void requireDistinct(Named out, List<Named> inputs) {
        for (Named in : inputs) {
            if (in != null && sameFile(in.path(), out.path())) {
                throw new InvalidInputException(out + " is the same file as " + in + ": writing it would destroy what is"
                        + " read; give a new path");
            }
        }
    }

    /** The second rule only: an existing {@code out} is a regular file of {@code kind}, or empty. */
    public static void requireKind(Named out, Kind kind) {
        Path p = out.path();
        if (!Files.exists(p)) return; // a dangling link too: AtomicFiles replaces the link, never its target
        if (Files.isDirectory(p)) throw new InvalidInputException(out + " is a directory; give a file path");
        if (!Files.isRegularFile(p)) {
            throw new InvalidInputException(out + " exists and is not a regular file (a device or a pipe); give a file path");
        }
        boolean ok;
        try {
            ok = Files.size(p) == 0 || kind.matches(p);
        } catch (IOException e) {
            throw new InvalidInputException("cannot read the existing " + out + ": " + IoErrors.reason(e), e);
        }
        if (!ok) {
            throw new InvalidInputException(out + " exists and is not " + kind.description() + ", so it is not replaced;"
                    + " give a new path, or remove it first");
        }
    }

    /** By identity, not by name: the same path spelled differently, a symbolic link to it, or a hard link. */
    public static boolean sameFile(Path a, Path b) {
        if (a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize())) return true;
        try {
            return Files.exists(a) && Files.exists(b) && Files.isSameFile(a, b);
        } catch (IOException e) {
            return false; // unreadable: opening it says why
        }
    }
}
