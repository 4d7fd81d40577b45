package dev.steer4j.io;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * Writes a file so that it is either the old one or the complete new one, never half: the content goes to a
 * temporary file in the same folder, which then replaces the target in one move. The result has the old
 * file's permissions, or for a new file the ones any program gets (the umask's), not a temp file's 0600.
 * {@link #writeFolder} does the same for a folder of files written together.
 */
public final class AtomicFiles {
    /** Fills the temporary file. */
    public interface Writer {
        void write(Path tmp) throws IOException;
    }

    /** Fills the staging folder. */
    public interface FolderWriter {
        void write(Path staging) throws IOException;
    }

    private AtomicFiles() {}

    public static void write(Path target, Writer writer) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Files.createDirectories(dir);
        Path tmp = createTemp(dir, abs.getFileName().toString());
        try {
            writer.write(tmp);
            if (Files.exists(abs)) keepPermissions(abs, tmp);
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * Writes a folder as a whole: {@code writer} fills a new staging folder beside {@code target}, which then takes
     * the target's place. A target folder that holds files (an earlier run's) is moved aside first, put back if the
     * new one cannot take its place, and deleted once it has. A failed or interrupted write leaves what was there
     * (after a {@code kill -9}, also a hidden staging folder beside it; killed between the two moves, the earlier
     * folder is beside it under a hidden {@code .NAME.replaced…} name).
     */
    public static void writeFolder(Path target, FolderWriter writer) throws IOException {
        Path abs = target.toAbsolutePath();
        if (Files.isSymbolicLink(abs)) abs = abs.toRealPath(); // write where the link points; keep the link
        Path parent = abs.getParent();
        Files.createDirectories(parent);
        String name = abs.getFileName().toString();
        Path staging = createTemp(parent, name + ".staging", true);
        try {
            writer.write(staging);
            if (!Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) {
                move(staging, abs);
            } else if (isEmptyFolder(abs)) {
                Files.delete(abs);
                move(staging, abs);
            } else {
                Path aside = createTemp(parent, name + ".replaced", true);
                Files.delete(aside); // only its name is wanted: a move needs a free name
                move(abs, aside);
                try {
                    move(staging, abs);
                } catch (IOException e) {
                    move(aside, abs);
                    throw e;
                }
                try {
                    deleteTree(aside);
                } catch (IOException e) {
                    // the new folder is in place; a hidden copy of the old one is all that is left over
                }
            }
        } finally {
            deleteTree(staging); // gone already when it took the target's place
        }
    }

    private static void move(Path from, Path to) throws IOException {
        Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
    }

    private static boolean isEmptyFolder(Path dir) throws IOException {
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) return false;
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.findAny().isEmpty();
        }
    }

    /** Deletes a folder and everything in it, if it exists. */
    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    /** A new empty file with default permissions (Files.createTempFile would make it 0600). */
    private static Path createTemp(Path dir, String name) throws IOException {
        return createTemp(dir, name, false);
    }

    /** A new empty file, or folder, with a hidden, unused name and default permissions. */
    private static Path createTemp(Path dir, String name, boolean folder) throws IOException {
        while (true) {
            Path tmp = dir.resolve("." + name + "." + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36) + ".tmp");
            try {
                return folder ? Files.createDirectory(tmp) : Files.createFile(tmp);
            } catch (FileAlreadyExistsException e) {
                // another name
            }
        }
    }

    private static void keepPermissions(Path from, Path to) throws IOException {
        try {
            Files.setPosixFilePermissions(to, Files.getPosixFilePermissions(from));
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: nothing to keep
        }
    }
}
