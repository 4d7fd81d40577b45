package dev.steer4j.io;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Writes a file so that it is either the old one or the complete new one, never half: the content goes to a
 * temporary file in the same folder, which then replaces the target in one move. The result has the old
 * file's permissions, or for a new file the ones any program gets (the umask's), not a temp file's 0600.
 * {@link #writeFolder} does the same for a folder of files written together.
 *
 * <p>Temporary names carry the writing process's id, so that a later write of the same target can tell what a
 * killed writer left behind ({@code kill -9}, a power cut) from what a running one is still writing, and clear it.
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

    private static final String TMP = ".tmp";
    private static final long PID = ProcessHandle.current().pid();

    private AtomicFiles() {}

    public static void write(Path target, Writer writer) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Files.createDirectories(dir);
        clearLeftovers(dir, abs.getFileName().toString());
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
     * new one cannot take its place, and deleted once it has. A failed or interrupted write leaves what was there.
     * After a {@code kill -9} it may also leave a hidden staging folder beside it, or, killed between the two moves,
     * the earlier folder under a hidden {@code .NAME.replaced…} name and nothing at NAME: the next write of the same
     * target deletes the first and puts the second back before it starts.
     */
    public static void writeFolder(Path target, FolderWriter writer) throws IOException {
        Path abs = target.toAbsolutePath();
        if (Files.isSymbolicLink(abs)) abs = abs.toRealPath(); // write where the link points; keep the link
        Path parent = abs.getParent();
        Files.createDirectories(parent);
        String name = abs.getFileName().toString();
        clearLeftovers(parent, name);
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

    /**
     * Clears what writers of {@code dir/name} that are no longer running left beside it (see {@link #createTemp}): their
     * temporary files and staging folders are deleted; a folder one of them had moved aside is put back when nothing
     * took its place. Best effort: what cannot be cleared stays, and the write goes on.
     */
    private static void clearLeftovers(Path dir, String name) {
        // the names createTemp gives: .NAME.PID.RANDOM.tmp, .NAME.staging.PID.RANDOM.tmp, .NAME.replaced.PID.RANDOM.tmp
        Pattern leftover = Pattern.compile(Pattern.quote("." + name) + "\\.(?:(staging|replaced)\\.)?(\\d+)\\.[0-9a-z]+" + Pattern.quote(TMP));
        List<Matcher> found;
        try (Stream<Path> entries = Files.list(dir)) {
            found = entries.map(p -> leftover.matcher(p.getFileName().toString())).filter(Matcher::matches).toList();
        } catch (IOException e) {
            return;
        }
        Path target = dir.resolve(name);
        for (Matcher m : found) {
            Path p = dir.resolve(m.group());
            long pid;
            try {
                pid = Long.parseLong(m.group(2));
            } catch (NumberFormatException e) {
                continue; // too long to be a process id
            }
            if (ProcessHandle.of(pid).isPresent()) continue; // a running writer's, or a name that only looks like one
            try {
                boolean folder = Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS);
                if ("replaced".equals(m.group(1)) && folder && !Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                    move(p, target);
                } else if (folder) {
                    deleteTree(p);
                } else {
                    Files.deleteIfExists(p);
                }
            } catch (IOException e) {
                // another writer cleared it first, or it cannot be removed: not this write's to fail on
            }
        }
    }

    /** A new empty file with default permissions (Files.createTempFile would make it 0600). */
    private static Path createTemp(Path dir, String name) throws IOException {
        return createTemp(dir, name, false);
    }

    /**
     * A new empty file, or folder, with default permissions and a hidden, unused name that says which process made
     * it: {@code .NAME.PID.RANDOM.tmp}.
     */
    private static Path createTemp(Path dir, String name, boolean folder) throws IOException {
        while (true) {
            Path tmp = dir.resolve("." + name + "." + PID + "."
                    + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36) + TMP);
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
