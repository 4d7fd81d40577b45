package dev.steer4j.bench;

import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.cuda.CUDAAllocator;
import org.bytedeco.pytorch.cuda.DeviceStats;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * CUDA memory as libtorch's caching allocator counts it (what {@code torch.cuda.max_memory_allocated} reads).
 *
 * <p>Only touched for CUDA devices: the torch_cuda natives exist only in the GPU build of the presets.
 */
final class DeviceMemory {
    private DeviceMemory() {}

    /** Starts a fresh peak, so a report covers only what ran after this call. */
    static void resetPeak(Device device) {
        if (device.is_cuda()) allocator().resetPeakStats(index(device));
    }

    /** Current and peak allocated / reserved MB on a CUDA device; null for any other device. */
    static Map<String, Object> report(Device device) {
        if (!device.is_cuda()) return null;
        torch_cuda.device_synchronize();
        DeviceStats stats = allocator().getDeviceStats(index(device));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("allocated_mb", stats.allocated_bytes().current() / 1048576.0);
        m.put("peak_allocated_mb", stats.allocated_bytes().peak() / 1048576.0);
        m.put("reserved_mb", stats.reserved_bytes().current() / 1048576.0);
        m.put("peak_reserved_mb", stats.reserved_bytes().peak() / 1048576.0);
        return m;
    }

    private static CUDAAllocator allocator() {
        return torch_cuda.getAllocator();
    }

    private static byte index(Device device) {
        return device.has_index() ? device.index() : torch_cuda.current_device();
    }
}
