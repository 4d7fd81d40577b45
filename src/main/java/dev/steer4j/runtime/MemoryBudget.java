package dev.steer4j.runtime;

import dev.steer4j.InvalidInputException;
import dev.steer4j.MemoryLimitException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.SizeTPair;
import org.bytedeco.pytorch.cuda.CUDAAllocator;
import org.bytedeco.pytorch.cuda.DeviceStats;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * How much memory there is for an allocation, asked before making it, so that a size no machine can hold is a
 * one-line refusal naming the bytes needed and available instead of a JVM killed by the heap or libtorch's
 * allocator. Three pools:
 * <ul>
 *   <li>host memory (CPU tensors, and every native buffer): {@code MemAvailable} of /proc/meminfo, less where a
 *       cgroup (a container's limit, v1 or v2) allows less; JavaCPP's {@link Pointer#availablePhysicalBytes} where
 *       /proc is not there;</li>
 *   <li>a CUDA device: what the driver reports free ({@code cudaMemGetInfo}, through libtorch's caching allocator)
 *       plus what that allocator holds reserved but unused, which it hands out first;</li>
 *   <li>the Java heap (Java arrays): {@code -Xmx} less what is in use now.</li>
 * </ul>
 * {@code -Dsteer4j.memoryLimit=BYTES} caps the first two, for a machine shared with other processes (and for tests).
 * Where the figure cannot be read (no /proc and no JavaCPP figure, a CUDA query that fails), {@link #require} checks
 * nothing: a guess would refuse work that fits.
 */
public final class MemoryBudget {
    /** Caps the host and device figures, in bytes. */
    public static final String LIMIT_PROPERTY = "steer4j.memoryLimit";

    /** Bytes free in one pool, and the pool's name for a message ("host memory"). */
    public record Available(long bytes, String where) {}

    private MemoryBudget() {}

    /** Where tensors of {@code device} live: host memory for the CPU, the device's own for CUDA; null if unknown. */
    public static Available forTensors(Device device) {
        return Devices.isCpu(device) ? host() : cuda(device);
    }

    /** Host memory available to this process; null if unknown. */
    public static Available host() {
        long bytes = memAvailable();
        long cgroup = cgroupAvailable();
        if (cgroup >= 0 && (bytes < 0 || cgroup < bytes)) bytes = cgroup;
        if (bytes < 0) {
            try {
                long j = Pointer.availablePhysicalBytes();
                if (j > 0) bytes = j;
            } catch (Throwable t) {
                // JavaCPP's natives not loadable: unknown
            }
        }
        return bytes < 0 ? null : new Available(capped(bytes), "host memory");
    }

    /** The Java heap that can still be allocated: the maximum less what is in use. */
    public static Available heap() {
        Runtime rt = Runtime.getRuntime();
        long used = rt.totalMemory() - rt.freeMemory();
        return new Available(Math.max(0, rt.maxMemory() - used), "Java heap (-Xmx " + MemoryLimitException.human(rt.maxMemory()) + ")");
    }

    /** Throws unless {@code needed} bytes fit in {@code available} (an unknown pool, null, always fits). */
    public static void require(String subject, String what, long needed, Available available) {
        if (available != null && needed > available.bytes()) {
            throw new MemoryLimitException(subject, needed, available.bytes(), available.where(), what);
        }
    }

    /**
     * Throws unless {@code needed} bytes fit in the Java heap. Garbage counts as used until collected, so before
     * refusing it collects once and asks again (only on that path: a size that fits costs no collection).
     */
    public static void requireHeap(String subject, String what, long needed) {
        if (needed > heap().bytes()) System.gc();
        require(subject, what, needed, heap());
    }

    /** The product of {@code factors}, or Long.MAX_VALUE where it overflows: a size no machine has. */
    public static long product(long... factors) {
        long p = 1;
        for (long f : factors) {
            if (f < 0) throw new IllegalArgumentException("negative size " + f);
            try {
                p = Math.multiplyExact(p, f);
            } catch (ArithmeticException e) {
                return Long.MAX_VALUE;
            }
        }
        return p;
    }

    /** The sum of {@code terms}, or Long.MAX_VALUE where it overflows. */
    public static long sum(long... terms) {
        long s = 0;
        for (long t : terms) {
            try {
                s = Math.addExact(s, t);
            } catch (ArithmeticException e) {
                return Long.MAX_VALUE;
            }
        }
        return s;
    }

    private static long capped(long bytes) {
        String limit = System.getProperty(LIMIT_PROPERTY);
        if (limit == null || limit.isBlank()) return bytes;
        try {
            return Math.min(bytes, Long.parseLong(limit.strip()));
        } catch (NumberFormatException e) {
            throw new InvalidInputException("-D" + LIMIT_PROPERTY + " must be a number of bytes, got '" + limit + "'");
        }
    }

    /** CUDA: free as the driver says, plus what the caching allocator holds unused; null if it cannot be asked. */
    private static Available cuda(Device device) {
        try {
            byte index = device.has_index() ? device.index() : torch_cuda.current_device();
            CUDAAllocator allocator = torch_cuda.getAllocator();
            long free;
            try (SizeTPair info = allocator.getMemoryInfo(index)) {
                free = info.first();
            }
            long cached;
            try (DeviceStats stats = allocator.getDeviceStats(index)) {
                cached = stats.reserved_bytes().current() - stats.allocated_bytes().current();
            }
            return new Available(capped(free + Math.max(0, cached)), "memory on cuda:" + index);
        } catch (Throwable t) {
            // not a CUDA build, or a driver that cannot be asked: unknown (README, "CUDA")
            return null;
        }
    }

    /** MemAvailable of /proc/meminfo in bytes, or -1. Its third line: the first 4 KB are read, nothing more. */
    private static long memAvailable() {
        String head;
        try (InputStream in = Files.newInputStream(MEMINFO)) {
            head = new String(in.readNBytes(4096), StandardCharsets.US_ASCII);
        } catch (IOException e) {
            return -1;
        }
        int at = head.indexOf("MemAvailable:");
        if (at < 0) return -1;
        int end = head.indexOf('\n', at);
        try {
            return Long.parseLong(head.substring(at + "MemAvailable:".length(), end < 0 ? head.length() : end)
                    .replace("kB", "").strip()) * 1024;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static final Path MEMINFO = Path.of("/proc/meminfo");

    /** This process's memory cgroup, when it has a limit: found once (a container's limit does not change). */
    private record Cgroup(long limit, Path usage, Path stat, String inactiveFile) {}

    private static final Cgroup CGROUP = findCgroup();

    private static Cgroup findCgroup() {
        Path v2 = Path.of("/sys/fs/cgroup");
        long limit = number(v2.resolve("memory.max"));
        if (limit >= 0) return new Cgroup(limit, v2.resolve("memory.current"), v2.resolve("memory.stat"), "inactive_file");
        Path v1 = Path.of("/sys/fs/cgroup/memory");
        limit = number(v1.resolve("memory.limit_in_bytes"));
        if (limit >= 0 && limit < (1L << 60)) { // "unlimited" is a page-rounded Long.MAX_VALUE
            return new Cgroup(limit, v1.resolve("memory.usage_in_bytes"), v1.resolve("memory.stat"), "total_inactive_file");
        }
        return null;
    }

    /** What this process's memory cgroup still allows (limit less usage, reclaimable file cache counted free), or -1. */
    private static long cgroupAvailable() {
        Cgroup c = CGROUP;
        if (c == null) return -1;
        long usage = number(c.usage());
        if (usage < 0) return -1;
        return Math.max(0, c.limit() - usage + stat(c.stat(), c.inactiveFile()));
    }

    /** A file holding one number; -1 if absent, unreadable or "max" (no limit). */
    private static long number(Path file) {
        try {
            return Long.parseLong(Files.readString(file).strip());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    private static long stat(Path file, String key) {
        try {
            for (String line : Files.readAllLines(file)) {
                if (line.startsWith(key + " ")) return Long.parseLong(line.substring(key.length() + 1).strip());
            }
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
        return 0;
    }
}
