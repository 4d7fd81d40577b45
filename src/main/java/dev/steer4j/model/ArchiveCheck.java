package dev.steer4j.model;

import dev.steer4j.InvalidInputException;
import dev.steer4j.io.IoErrors;
import dev.steer4j.runtime.TorchErrors;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;
import org.bytedeco.pytorch.PyTorchStreamReader;
import org.bytedeco.pytorch.global.torch;

/**
 * What a {@code .pt} must be before libtorch reads it, checked with one read of its zip directory: a zip file with
 * the layout torch.jit.save writes (one top-level folder holding {@code data.pkl}, {@code constants.pkl},
 * {@code code/} and a {@code version} record), and every record equal to the CRC32 in the zip directory. libtorch
 * says neither in words a user can act on ("file in archive is not in a subdirectory", "Expected
 * hasRecord("version") to be true"), and never checks CRCs (its miniz is built with
 * MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS), so bytes damaged in the weights would load as weights. The CRCs cost one
 * read of the file, ~0.1 s for 500 MB in the page cache, which torch.load then reads from.
 */
final class ArchiveCheck {
    private ArchiveCheck() {}

    static void verify(Path file) {
        ZipFile zip;
        try {
            if (Files.size(file) == 0) throw notTorchScript(file, "the file is empty");
            zip = new ZipFile(file.toFile());
        } catch (ZipException e) {
            throw notTorchScript(file, startsLikeZip(file)
                    ? "it begins as a zip file but has no readable zip directory at its end (is it cut short?)"
                    : "it is not a zip file (a TorchScript archive is one)");
        } catch (IOException e) {
            throw new InvalidInputException("cannot read " + file + ": " + IoErrors.reason(e));
        }
        try (zip) {
            List<? extends ZipEntry> entries = Collections.list(zip.entries());
            layout(file, zip, entries);
            PyTorchStreamReader reader;
            try {
                reader = new PyTorchStreamReader(file.toString()); // knows where each record's bytes start
            } catch (RuntimeException e) {
                throw unreadable(file, e);
            }
            try (reader; FileChannel ch = FileChannel.open(file)) {
                ByteBuffer buf = ByteBuffer.allocateDirect(1 << 23);
                for (ZipEntry e : entries) {
                    // a CRC of 0: written without CRCs (torch's serialization config compute_crc32=False)
                    if (e.isDirectory() || e.getCrc() == 0) continue;
                    long crc;
                    if (e.getMethod() == ZipEntry.STORED) {
                        long pos = offset(reader, e);
                        if (pos < 0) continue;
                        crc = storedCrc(ch, buf, pos, e.getSize());
                    } else {
                        crc = inflatedCrc(zip, e);
                    }
                    if (crc != e.getCrc()) {
                        throw new InvalidInputException(file + " is damaged: its record " + e.getName()
                                + " fails its CRC32 check (the bytes changed after the file was written)");
                    }
                }
            }
        } catch (IOException e) {
            throw new InvalidInputException("cannot read " + file + ": " + IoErrors.reason(e));
        }
    }

    /** Whether {@code file} has a TorchScript archive's layout (its zip directory only; no CRCs read). */
    static boolean isTorchScriptArchive(Path file) {
        try (ZipFile zip = new ZipFile(file.toFile())) {
            layout(file, zip, Collections.list(zip.entries()));
            return true;
        } catch (IOException | InvalidInputException e) {
            return false;
        }
    }

    /**
     * The records libtorch needs, in the folder it reads: the folder of the zip directory's first record (as
     * PyTorchStreamReader does); records outside it are invisible to libtorch.
     */
    private static void layout(Path file, ZipFile zip, List<? extends ZipEntry> entries) throws IOException {
        if (entries.isEmpty()) throw notTorchScript(file, "the zip file holds no records");
        String first = entries.get(0).getName();
        int slash = first.indexOf('/');
        if (slash <= 0) {
            throw notTorchScript(file, "its first record, " + first + ", is not inside a folder (a TorchScript archive"
                    + " keeps its records in one top-level folder)");
        }
        String root = first.substring(0, slash + 1);
        Set<String> names = new HashSet<>();
        boolean code = false;
        for (ZipEntry e : entries) {
            names.add(e.getName());
            code |= e.getName().startsWith(root + "code/");
        }
        boolean data = names.contains(root + "data.pkl");
        boolean constants = names.contains(root + "constants.pkl");
        boolean version = names.contains(root + "version") || names.contains(root + ".data/version");
        if (data && !constants && !code) {
            throw notTorchScript(file, "it holds tensors but no program (no " + root + "code/ or " + root
                    + "constants.pkl), as torch.save writes; save a model with torch.jit.save, or convert a Hugging Face"
                    + " checkpoint with `steer4j convert`");
        }
        List<String> missing = new ArrayList<>();
        if (!data) missing.add(root + "data.pkl");
        if (!constants) missing.add(root + "constants.pkl");
        if (!code) missing.add(root + "code/");
        if (!version) missing.add(root + "version");
        if (!missing.isEmpty()) {
            throw notTorchScript(file, "it has no " + String.join(", ", missing.subList(0, missing.size() - 1))
                    + (missing.size() > 1 ? " or " : "") + missing.get(missing.size() - 1));
        }
        formatVersion(file, zip, names.contains(root + ".data/version") ? root + ".data/version" : root + "version");
    }

    /** The file format version, one libtorch reads (it would say "please upgrade PyTorch"). */
    private static void formatVersion(Path file, ZipFile zip, String record) throws IOException {
        String text;
        try (InputStream in = zip.getInputStream(zip.getEntry(record))) {
            text = new String(in.readNBytes(32), java.nio.charset.StandardCharsets.US_ASCII).strip();
        }
        long version;
        try {
            version = Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw notTorchScript(file, "its record " + record + " is not a version number");
        }
        long min = torch.kMinSupportedFileFormatVersion();
        long max = torch.kMaxSupportedFileFormatVersion();
        if (version < min || version > max) {
            throw new InvalidInputException("cannot load " + file + ": it is in TorchScript file format version " + version
                    + ", and steer4j's libtorch reads versions " + min + " to " + max
                    + (version > max ? " (it was saved by a newer PyTorch)" : ""));
        }
    }

    static InvalidInputException notTorchScript(Path file, String why) {
        return new InvalidInputException(file + " is not a TorchScript archive: " + why);
    }

    /**
     * libtorch failed on a file with the layout of a TorchScript archive: its reason in one line, without libtorch's
     * decorations, or none when it gave nothing a user can read.
     */
    static InvalidInputException unreadable(Path file, RuntimeException e) {
        String reason = TorchErrors.reason(e.getMessage());
        return new InvalidInputException("cannot load " + file + ": it is laid out as a TorchScript archive, but libtorch"
                + " could not read it" + (reason == null ? "" : " (" + reason + ")"), e);
    }

    private static boolean startsLikeZip(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] b = in.readNBytes(4);
            return b.length == 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4;
        } catch (IOException e) {
            return false;
        }
    }

    /** Where a stored record's bytes start, or -1 for a file outside the archive's folder, which libtorch never reads. */
    private static long offset(PyTorchStreamReader reader, ZipEntry e) {
        try {
            return reader.getRecordOffset(e.getName().substring(e.getName().indexOf('/') + 1)); // names lack "archive/"
        } catch (RuntimeException notARecord) {
            return -1;
        }
    }

    /** The weights: read straight from the file, in large blocks. */
    private static long storedCrc(FileChannel ch, ByteBuffer buf, long pos, long size) throws IOException {
        CRC32 crc = new CRC32();
        for (long left = size; left > 0; ) {
            buf.clear().limit((int) Math.min(buf.capacity(), left));
            int n = ch.read(buf, pos);
            if (n < 0) break; // truncated: the CRC cannot match
            crc.update(buf.flip());
            pos += n;
            left -= n;
        }
        return crc.getValue();
    }

    /** The compressed records (code, debug info): small, so through the JDK's inflater. */
    private static long inflatedCrc(ZipFile zip, ZipEntry e) throws IOException {
        CRC32 crc = new CRC32();
        try (InputStream in = zip.getInputStream(e)) {
            byte[] b = new byte[1 << 16];
            for (int n; (n = in.read(b)) > 0; ) crc.update(b, 0, n);
        } catch (java.util.zip.ZipException bad) {
            return -1; // damaged compressed data: no CRC32 is -1
        }
        return crc.getValue();
    }
}
