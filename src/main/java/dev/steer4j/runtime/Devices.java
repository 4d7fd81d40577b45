package dev.steer4j.runtime;

import dev.steer4j.InvalidInputException;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;

/** Parses {@code cpu} / {@code cuda[:n]} and checks that the device exists before anything runs on it. */
public final class Devices {
    private Devices() {}

    public static Device parse(String spec) {
        Torch.load();
        String s = spec == null ? "cpu" : spec.trim().toLowerCase();
        if (s.equals("cpu")) {
            return new Device("cpu");
        }
        if (!s.matches("cuda(:\\d+)?")) {
            throw new InvalidInputException("unknown device '" + spec + "': use cpu, cuda or cuda:N");
        }
        boolean available;
        int count;
        try {
            available = torch.cuda_is_available();
            count = available ? torch.cuda_device_count() : 0;
        } catch (Throwable e) {
            available = false;
            count = 0;
        }
        if (!available) {
            throw new InvalidInputException("device " + spec + ": CUDA is not available (build with -Pcuda and install"
                    + " CUDA 13.x with cuDNN 9; see README)");
        }
        int index = s.contains(":") ? Integer.parseInt(s.substring(5)) : 0;
        if (index >= count) {
            throw new InvalidInputException("device " + spec + ": only " + count + " CUDA device(s) present");
        }
        return new Device(s.contains(":") ? s : "cuda:0");
    }

    public static boolean isCpu(Device d) {
        return d.is_cpu();
    }
}
