package dev.steer4j.model;

import dev.steer4j.InvalidInputException;
import dev.steer4j.io.IoErrors;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Collections;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.bytedeco.pytorch.PyTorchStreamReader;

/**
 * Checks each record of a {@code .pt} archive against the CRC32 in its zip directory. libtorch never does (its miniz
 * is built with MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS), so bytes damaged in the weights would load as weights. It
 * costs one read of the file, ~0.1 s for 500 MB in the page cache, which torch.load then reads from.
 */
final class ArchiveCrc {
    private ArchiveCrc() {}

    static void verify(Path file) {
        ZipFile zip;
        PyTorchStreamReader reader;
        try {
            zip = new ZipFile(file.toFile());
        } catch (IOException e) {
            return; // not a readable zip: torch.load says why
        }
        try (zip) {
            try {
                reader = new PyTorchStreamReader(file.toString()); // knows where each record's bytes start
            } catch (RuntimeException e) {
                return;
            }
            try (reader; FileChannel ch = FileChannel.open(file)) {
                ByteBuffer buf = ByteBuffer.allocateDirect(1 << 23);
                for (ZipEntry e : Collections.list(zip.entries())) {
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
